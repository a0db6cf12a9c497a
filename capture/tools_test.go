package capture

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/fusectl/fusectl/internal/testenv"
)

// TestTshark checks that tshark and capinfos read written files, in both
// byte orders, and count the same packets.
func TestTshark(t *testing.T) {
	tshark := testenv.RequireCommand(t, "tshark")
	capinfos := testenv.RequireCommand(t, "capinfos")
	for _, ord := range orders {
		t.Run(ord.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "s.fcap")
			f, err := os.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			recs := writeSample(t, f, ord.o, 64)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}

			out, err := exec.Command(tshark, "-r", path).Output()
			if err != nil {
				t.Fatalf("tshark -r: %v\n%s", err, stderrOf(err))
			}
			if n := strings.Count(string(out), "\n"); n != len(recs) {
				t.Errorf("tshark -r printed %d lines, want %d:\n%s", n, len(recs), out)
			}

			// Every frame is USER0 (Wireshark's encapsulation 45), on the
			// right interface, with its original and captured lengths.
			out, err = exec.Command(tshark, "-r", path, "-T", "fields", "-E", "separator=,",
				"-e", "frame.encap_type", "-e", "frame.interface_name", "-e", "frame.len", "-e", "frame.cap_len").Output()
			if err != nil {
				t.Fatalf("tshark -T fields: %v\n%s", err, stderrOf(err))
			}
			var want strings.Builder
			for _, r := range recs {
				w := wantRecord(r, 64, ord.o)
				fmt.Fprintf(&want, "45,%s,%d,%d\n", sampleIfaces[r.Iface].Name, w.OrigLen+PseudoHeaderSize, len(w.Msg)+PseudoHeaderSize)
			}
			if string(out) != want.String() {
				t.Errorf("tshark fields:\n%s\nwant:\n%s", out, want.String())
			}

			out, err = exec.Command(capinfos, "-c", "-M", path).Output()
			if err != nil {
				t.Fatalf("capinfos: %v\n%s", err, stderrOf(err))
			}
			m := regexp.MustCompile(`Number of packets:\s+(\d+)`).FindSubmatch(out)
			if m == nil || string(m[1]) != fmt.Sprint(len(recs)) {
				t.Errorf("capinfos -c: want %d packets, got:\n%s", len(recs), out)
			}
		})
	}
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
