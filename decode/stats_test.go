package decode

import (
	"strings"
	"testing"
	"time"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// The records a mid-session capture starts with are not traffic: their
// zero latencies must not reach the percentiles, nor their count a row.
func TestStatsSkipSynthesized(t *testing.T) {
	s := NewStats()
	synth := capture.FlagSynthesized
	for _, r := range []Record{
		{Dir: capture.DirRequest, Op: abi.FUSE_INIT, Flags: synth},
		{Dir: capture.DirReply, Op: abi.FUSE_INIT, Flags: synth, Paired: true},
		{Dir: capture.DirRequest, Op: abi.FUSE_LOOKUP, Flags: synth},
		{Dir: capture.DirReply, Op: abi.FUSE_LOOKUP, Flags: synth, Paired: true},
		{Dir: capture.DirRequest, Op: abi.FUSE_LOOKUP},
		{Dir: capture.DirReply, Op: abi.FUSE_LOOKUP, Paired: true, Latency: 40 * time.Microsecond},
	} {
		s.Add(&r)
	}
	rows := s.Rows()
	if len(rows) != 1 || rows[0].Name != "LOOKUP" || rows[0].Requests != 1 || rows[0].Replies != 1 {
		t.Fatalf("rows %+v, want one LOOKUP row of the live exchange", rows)
	}
	if rows[0].P50 != 40*time.Microsecond {
		t.Errorf("LOOKUP p50 %v, want 40µs", rows[0].P50)
	}
	if tab := string(s.AppendTable(nil, false)); !strings.Contains(tab, "\nrecords=6 synthesized=4 unpaired=0 malformed=0\n") {
		t.Errorf("table:\n%s", tab)
	}
	if js := string(s.AppendJSON(nil)); !strings.HasPrefix(js, `{"records":6,"synthesized":4,"lost":0,"unpaired":0,`) {
		t.Errorf("json: %s", js)
	}
}

// Messages the recorder lost are counted, and a row of replies that lost
// their requests shows no latencies rather than zero ones.
func TestStatsLost(t *testing.T) {
	s := NewStats()
	for _, r := range []Record{
		{Dir: capture.DirReply, Lost: 5},
		{Dir: capture.DirReply},
		{Dir: capture.DirRequest, Op: abi.FUSE_GETATTR, Lost: 2},
		{Dir: capture.DirReply, Op: abi.FUSE_GETATTR, Paired: true, Latency: time.Millisecond},
	} {
		s.Add(&r)
	}
	tab := string(s.AppendTable(nil, false))
	for _, want := range []string{
		"\n?\t0\t2\t0\t-\t-\t-\t-\n",
		"\nGETATTR\t1\t1\t0\t1ms\t1ms\t1ms\t1ms\n",
		"\nrecords=4 lost=7 unpaired=2 malformed=0\n",
	} {
		if !strings.Contains(tab, want) {
			t.Errorf("table lacks %q:\n%s", want, tab)
		}
	}
	js := string(s.AppendJSON(nil))
	for _, want := range []string{`"lost":7,`, `{"op":"?","count":0,"replies":2,"errors":0,"timed":0,`, `"timed":1,"p50_ns":1000000,`} {
		if !strings.Contains(js, want) {
			t.Errorf("json lacks %s: %s", want, js)
		}
	}
}
