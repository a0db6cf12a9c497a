package mount

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fusectl/fusectl/client/launch"
	"github.com/fusectl/fusectl/internal/procfs"
	"github.com/fusectl/fusectl/internal/testenv"
)

// The benchmarks run one workload on several mounts of the same server, with
// zero cache timeouts so that every operation reaches it, in the same run,
// and report each variant's speed as a ratio to the direct mount:
//
//	direct        the server mounting by itself
//	fusectl       through the interposer, no capture
//	capture       through the interposer, recording every whole message
//	noclamp       through the interposer, without the 14-page READ clamp
//	              (demofs only: it never splices)
//	minimal       through the simplest forwarder (minimalMount): two
//	              threads in blocking read and write, nothing else; the
//	              cost of the two extra hops themselves on this machine
//	strace        the server mounting by itself under strace -f (if installed)
//	debug         the server mounting by itself with its own request log,
//	              read from a pipe as a terminal or log collector would
//
// Each benchmark runs for three servers. demofs keeps everything in memory
// and answers in microseconds, so forwarding is most of what a request
// costs: the interposer's worst case. bindfs (libfuse, a Debian package)
// mirrors a directory, which the benchmark puts on tmpfs so that the disk
// does not hide the FUSE round trip; every request makes system calls on
// it, as real servers' requests do. Its rates depend on where the scheduler
// puts its threads and vary far more between runs than demofs's.
// squashfuse (libfuse 3's high-level API, read-only) serves a squashfs
// image on tmpfs holding the workloads' files (benchImage): its requests
// resolve paths and decompress, and cost what real ones do; small-file
// creation skips it.
//
// A ratio of 0.95 means 95% of the direct mount's throughput. The
// interposer's variants are also reported against minimal (fusectl/minimal
// and so on), which takes the machine's cost of the extra hops out. Each
// benchmark also reports wake-rtt-µs, the machine's round trip between two
// threads (wakeRoundTrip), which bounds the small-file ratio: every
// forwarded request pays it once more. Each variant also reports the CPU
// time per operation of its server (NAME-server-cpu-µs) and, for the
// forwarding variants, of the forwarder (NAME-fwd-cpu-µs), user and system
// together: on a virtual machine most of a forwarder's time is the
// kernel's, switching tasks and waking the next one in the chain, and it
// comes to about what an in-memory server spends on the request itself.
// Beside the CPU time, each reports the context switches per operation of
// the forwarder and of the server (NAME-fwd-switches, NAME-server-switches:
// each is a sleep and a wake-up, or a preemption), and the interposer's
// variants the FUSE requests per operation (NAME-requests). A forwarder
// sleeps at least twice per request, once for the request and once for its
// reply; the server's own count is what a direct mount pays per request.
// Each benchmark logs these figures as a table too, with the interposer's
// ratios beside their targets (benchTarget). A capturing variant whose
// recorder fell behind during the timed runs reports the records it
// dropped as capture-dropped: its rate is then that of an incomplete
// capture.
//
// The sequential-read benchmark holds a 1 GiB file for each of the eight
// variants (in demofs's memory, or in bindfs's tmpfs source): it needs about
// 10 GiB of memory.

// benchServer is a server the benchmarks mount in every variant.
type benchServer struct {
	name string
	// args returns a fresh command line for one mount, "{}" standing for
	// the mountpoint.
	args func(b *testing.B) []string
	// debug is the flag that turns on the server's request log.
	debug string
	// neverSplices: the noclamp variant is safe.
	neverSplices bool
	// readOnly servers serve an image made beforehand (benchImage),
	// which holds what the workloads would otherwise create; small-file
	// creation is skipped on them.
	readOnly bool
}

// benchServers returns the servers every benchmark runs on.
func benchServers(b *testing.B) []benchServer {
	demofs := buildServer(b, "github.com/fusectl/fusectl/cmd/demofs")
	// squashfuse's image, made by its sub-benchmark's first mount and
	// removed when that sub-benchmark ends.
	var image string
	squashImage := func(b *testing.B) string {
		if image == "" {
			image = benchImage(b)
		}
		return image
	}
	return []benchServer{
		{
			name:         "demofs",
			args:         func(*testing.B) []string { return []string{demofs, "-ttl", "0", "{}"} },
			debug:        "-debug",
			neverSplices: true,
		},
		{
			name: "bindfs",
			args: func(b *testing.B) []string {
				return []string{"bindfs", "-f", "-o", "attr_timeout=0,entry_timeout=0,negative_timeout=0", memDir(b), "{}"}
			},
			debug: "-d",
		},
		{
			// A read-only server whose requests cost what real ones
			// do: libfuse's high-level API resolving paths, reading
			// and decompressing a squashfs image.
			name: "squashfuse",
			args: func(b *testing.B) []string {
				return []string{"squashfuse", "-f", "-o", "attr_timeout=0,entry_timeout=0,negative_timeout=0", squashImage(b), "{}"}
			},
			debug:    "-d",
			readOnly: true,
			// libfuse splices replies only for servers that ask
			// (FUSE_CAP_SPLICE_WRITE), which squashfuse does not:
			// strace -f -e splice,vmsplice of a read through it
			// shows none.
			neverSplices: true,
		},
	}
}

// benchImage makes a squashfs image, removed when b ends, that holds what
// the workloads create on a writable server: the metadata storm's
// directory d of files 1 to stormFiles, and the sequential read's file
// big.
func benchImage(b *testing.B) string {
	testenv.RequireCommand(b, "mksquashfs")
	dir := memDir(b)
	run(b, dir, "mkdir tree && cd tree && ("+makeStormFiles+") && "+makeBigFile)
	run(b, dir, "mksquashfs tree image.sqfs -quiet -noappend >/dev/null && rm -r tree")
	return filepath.Join(dir, "image.sqfs")
}

// forEachServer runs bench as a sub-benchmark per server; writes says
// whether the workload creates files, which read-only servers cannot.
func forEachServer(b *testing.B, writes bool, bench func(b *testing.B, s benchServer, vs []*benchVariant)) {
	for _, s := range benchServers(b) {
		b.Run(s.name, func(b *testing.B) {
			if s.name != "demofs" {
				testenv.RequireCommand(b, s.name)
			}
			if writes && s.readOnly {
				b.Skipf("%s is read-only", s.name)
			}
			bench(b, s, benchMounts(b, s))
		})
	}
}

// memDir returns a new directory on tmpfs (/dev/shm), or a temporary
// directory where there is none, removed when b ends.
func memDir(b *testing.B) string {
	var fs unix.Statfs_t
	if unix.Statfs("/dev/shm", &fs) != nil || fs.Type != unix.TMPFS_MAGIC {
		return b.TempDir()
	}
	d, err := os.MkdirTemp("/dev/shm", "fusectl-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	// Its files hold memory until removed, whatever ends the run.
	testenv.UndoOnInterrupt(b, func() { os.RemoveAll(d) })
	return d
}

type benchVariant struct {
	name string
	mnt  string
	m    *Mount
	// pid is the server's process, whose CPU time is reported; 0 where
	// it cannot be read.
	pid int
	// forwards: the variant's forwarder runs in this process, whose CPU
	// time is then the forwarder's (the other variants' forwarders are
	// idle meanwhile).
	forwards bool
}

// usage is what a process has used so far: CPU time, user and system, and
// context switches, voluntary (a sleep) and not (a preemption).
type usage struct {
	cpu      time.Duration
	switches uint64
}

func (u usage) add(o usage) usage { return usage{u.cpu + o.cpu, u.switches + o.switches} }
func (u usage) sub(o usage) usage { return usage{u.cpu - o.cpu, u.switches - o.switches} }

// processUsage returns process pid's usage, all its threads together. The
// switches are those of its live threads (/proc keeps no total); a server's
// threads outlive a benchmark's runs.
func processUsage(pid int) (usage, error) {
	var u usage
	f := procfs.StatFields(pid)
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: cannot read utime and stime", pid)
	}
	var ticks time.Duration
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return u, fmt.Errorf("/proc/%d/stat: %v", pid, err)
		}
		ticks += time.Duration(n)
	}
	// /proc counts in USER_HZ, which Linux fixes at 100 for user space.
	u.cpu = ticks * (time.Second / 100)
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		return u, fmt.Errorf("/proc/%d/task: no threads", pid)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // a thread that just exited
		}
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if !ok || k != "voluntary_ctxt_switches" && k != "nonvoluntary_ctxt_switches" {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return u, fmt.Errorf("%s: %s: %v", t, k, err)
			}
			u.switches += n
		}
	}
	return u, nil
}

// selfUsage returns this process's usage, its exited threads' included.
func selfUsage(b *testing.B) usage {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return usage{time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), uint64(ru.Nvcsw + ru.Nivcsw)}
}

// state describes the variant's mount, for a failed workload's report.
func (v *benchVariant) state() string {
	s := "mounted"
	if _, err := FindFUSEMount(v.mnt); err != nil {
		s = err.Error()
	}
	if v.m != nil {
		select {
		case <-v.m.Done():
			s += fmt.Sprintf("; interposer ended: %v", v.m.Err())
		default:
			s += "; interposer running"
		}
	}
	return s
}

func benchMounts(b *testing.B, s benchServer) []*benchVariant {
	b.Helper()
	testenv.RequireFUSE(b)
	var vs []*benchVariant
	// direct mounts args as the server would by itself.
	direct := func(name string, args []string) {
		mnt := b.TempDir()
		pid := directMount(b, mnt, launch.PlaceMountpoint(args, "", mnt))
		if name == "strace" {
			// The server is strace's child, whose time /proc does not
			// give strace until it has been waited for.
			pid = 0
		}
		vs = append(vs, &benchVariant{name: name, mnt: mnt, pid: pid})
	}
	direct("direct", s.args(b))
	for _, name := range []string{"fusectl", "capture", "noclamp"} {
		opts := Options{NoControl: true, Logf: func(string, ...any) {}}
		switch name {
		case "capture":
			opts.CapturePath = filepath.Join(b.TempDir(), "bench.fcap")
		case "noclamp":
			if !s.neverSplices {
				continue
			}
			// The server never splices, so the 14-page READ clamp is
			// not needed; this shows what the clamp costs.
			opts.NoClamp = true
		}
		m, mnt := startMount(b, s.args(b), opts)
		vs = append(vs, &benchVariant{name: name, mnt: mnt, m: m, pid: m.Pid(), forwards: true})
	}
	mnt, pid := minimalMount(b, s.args(b))
	vs = append(vs, &benchVariant{name: "minimal", mnt: mnt, pid: pid, forwards: true})
	if p, err := exec.LookPath("strace"); err == nil {
		direct("strace", append([]string{p, "-f", "-qq", "-o", "/dev/null"}, s.args(b)...))
	}
	direct("debug", slices.Insert(s.args(b), 1, s.debug))
	return vs
}

// benchPasses is how many times each iteration runs every variant, in
// turn: one pass of a workload varies by a tenth on a virtual machine, and
// `make bench` runs one iteration of a benchmark this slow.
const benchPasses = 3

// runVariants runs work on every variant benchPasses times per benchmark
// iteration and reports per-variant rates and ratios to the direct mount,
// from the totals over all passes. work returns how many operations (or
// bytes) it did. Before each run, outside the timed part, dirty pages are
// written back (a capture leaves up to a GiB of them, whose writeback would
// otherwise land in the next variant's time) and, with dropCaches, the
// page cache is emptied.
func runVariants(b *testing.B, vs []*benchVariant, unit string, target benchTarget, dropCaches bool, work func(b *testing.B, v *benchVariant) float64) {
	total := make([]time.Duration, len(vs))
	amount := make([]float64, len(vs))
	// The machine's wake-up cost, measured while it is quiet, so that the
	// ratios can be read against it. (Reported after the loop, whose
	// start deletes metrics reported before it.)
	wake := wakeRoundTrip(b)
	// CPU time and context switches during the timed runs, of the
	// forwarder and of the server: where a forwarded request's cost goes.
	// And the requests forwarded, for the interposer's variants.
	fwdUse := make([]usage, len(vs))
	srvUse := make([]usage, len(vs))
	reqs := make([]uint64, len(vs))
	use := func(v *benchVariant) (fwd, srv usage, n uint64) {
		if v.forwards {
			fwd = selfUsage(b)
		}
		if v.pid != 0 {
			var err error
			if srv, err = processUsage(v.pid); err != nil {
				b.Fatalf("%s: server usage: %v", v.name, err)
			}
		}
		if v.m != nil {
			n = v.m.Status().Requests
		}
		return fwd, srv, n
	}
	// Drops are counted from the mount's start; only the timed runs' count.
	dropped := make([]uint64, len(vs))
	for i, v := range vs {
		if v.m != nil {
			dropped[i] = v.m.Status().CaptureDropped
		}
	}
	for b.Loop() {
		for range benchPasses {
			for i, v := range vs {
				unix.Sync()
				if dropCaches {
					if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
						b.Fatalf("drop caches: %v", err)
					}
				}
				fwd0, srv0, n0 := use(v)
				start := time.Now()
				amount[i] += work(b, v)
				total[i] += time.Since(start)
				fwd1, srv1, n1 := use(v)
				fwdUse[i] = fwdUse[i].add(fwd1.sub(fwd0))
				srvUse[i] = srvUse[i].add(srv1.sub(srv0))
				reqs[i] += n1 - n0
			}
		}
	}
	b.ReportMetric(float64(wake)/float64(time.Microsecond), "wake-rtt-µs")
	res := make([]benchResult, len(vs))
	floor := 0.0
	for i, v := range vs {
		perUnit := func(d time.Duration) float64 {
			return float64(d) / float64(time.Microsecond) / amount[i]
		}
		res[i] = benchResult{
			rate:   amount[i] / total[i].Seconds(),
			fwdCPU: perUnit(fwdUse[i].cpu), srvCPU: perUnit(srvUse[i].cpu),
			fwdSwitches: float64(fwdUse[i].switches) / amount[i], srvSwitches: float64(srvUse[i].switches) / amount[i],
			requests: float64(reqs[i]) / amount[i],
		}
		if v.name == "minimal" {
			floor = res[i].rate
		}
	}
	for i, v := range vs {
		b.ReportMetric(res[i].rate, v.name+"-"+unit+"/s")
		if i > 0 {
			b.ReportMetric(res[i].rate/res[0].rate, v.name+"/direct")
		}
		if v.pid != 0 {
			b.ReportMetric(res[i].srvCPU, v.name+"-server-cpu-µs/"+unit)
			b.ReportMetric(res[i].srvSwitches, v.name+"-server-switches/"+unit)
		}
		if v.forwards {
			b.ReportMetric(res[i].fwdCPU, v.name+"-fwd-cpu-µs/"+unit)
			b.ReportMetric(res[i].fwdSwitches, v.name+"-fwd-switches/"+unit)
		}
		if v.m == nil {
			continue
		}
		b.ReportMetric(res[i].requests, v.name+"-requests/"+unit)
		// The interposer's variants also against the simplest forwarder:
		// what fusectl costs beyond the two extra hops themselves.
		if floor > 0 {
			b.ReportMetric(res[i].rate/floor, v.name+"/minimal")
		}
		if d := v.m.Status().CaptureDropped - dropped[i]; d > 0 {
			b.ReportMetric(float64(d), v.name+"-dropped")
		}
	}
	// At most 10 lines: the testing package cuts a benchmark's log there.
	b.Log(benchTable(vs, unit, target, wake, res))
}

// benchResult is one variant's figures from runVariants.
type benchResult struct {
	rate float64 // units per second
	// CPU time per unit, in µs, and context switches per unit, of the
	// forwarder (for variants that forward) and of the server (for those
	// whose pid is known).
	fwdCPU, srvCPU           float64
	fwdSwitches, srvSwitches float64
	// requests is the FUSE requests per unit (the interposer's variants).
	requests float64
}

// benchTarget is the least ratio to the direct mount that the interposer
// is to reach, without and with a capture.
type benchTarget struct{ off, on float64 }

// The targets for each workload.
var (
	metadataTarget   = benchTarget{off: 0.90, on: 0.85}
	smallFilesTarget = benchTarget{off: 0.90, on: 0.85}
	seqReadTarget    = benchTarget{off: 0.95, on: 0.90}
)

// benchTable lays out a benchmark's figures for a reader: each variant's
// rate, its ratio to the direct mount beside the target where there is
// one, and the CPU time per operation of forwarder and server.
func benchTable(vs []*benchVariant, unit string, target benchTarget, wake time.Duration, res []benchResult) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%d passes of each variant, wake-rtt %.0f µs:\n", benchPasses, float64(wake)/float64(time.Microsecond))
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-8s\t%s/s\t/direct\ttarget\t\tfwd-cpu-µs\tserver-cpu-µs\tfwd-cs\tserver-cs\treqs\t\n", "variant", unit)
	for i, v := range vs {
		ratio, goal, verdict, fwd, srv, fwdCS, srvCS, reqs := "", "", "", "-", "-", "-", "-", "-"
		if i > 0 {
			ratio = fmt.Sprintf("%.2f", res[i].rate/res[0].rate)
		}
		t := 0.0
		switch v.name {
		case "fusectl":
			t = target.off
		case "capture":
			t = target.on
		}
		if t > 0 {
			goal = fmt.Sprintf("%.2f", t)
			verdict = "met"
			if res[i].rate/res[0].rate < t {
				verdict = "below"
			}
		}
		if v.forwards {
			fwd, fwdCS = fmt.Sprintf("%.1f", res[i].fwdCPU), fmt.Sprintf("%.2f", res[i].fwdSwitches)
		}
		if v.pid != 0 {
			srv, srvCS = fmt.Sprintf("%.1f", res[i].srvCPU), fmt.Sprintf("%.2f", res[i].srvSwitches)
		}
		if v.m != nil {
			reqs = fmt.Sprintf("%.2f", res[i].requests)
		}
		// Padded: names read better left-aligned, numbers right.
		fmt.Fprintf(tw, "%-8s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", v.name, res[i].rate, ratio, goal, verdict, fwd, srv, fwdCS, srvCS, reqs)
	}
	tw.Flush()
	return strings.TrimSuffix(sb.String(), "\n")
}

// The workloads run in a child process (this test binary, see
// benchWorkloadMain), as applications do: in the interposer's own process a
// caller blocked in the kernel would hold one of the Go scheduler's Ps.
func childWorkload(kind string) func(b *testing.B, v *benchVariant) float64 {
	return func(b *testing.B, v *benchVariant) float64 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "FUSECTL_MOUNT_BENCH="+kind, "FUSECTL_MOUNT_BENCH_DIR="+v.mnt)
		out, err := cmd.CombinedOutput()
		if err != nil {
			b.Fatalf("workload %s on %s: %v\n%s\n%s", kind, v.name, err, out, v.state())
		}
		var amount float64
		if _, err := fmt.Sscan(string(out), &amount); err != nil {
			b.Fatalf("workload %s on %s: output %q", kind, v.name, out)
		}
		return amount
	}
}

const (
	stormFiles = 10000
	smallFiles = 1000
	seqSize    = 1 << 30
)

// The shell commands that create the workloads' files in the current
// directory: the metadata storm's d/1 to d/stormFiles, and the sequential
// read's big.
var (
	makeStormFiles = fmt.Sprintf("mkdir d && cd d && seq 1 %d | xargs touch", stormFiles)
	makeBigFile    = fmt.Sprintf("head -c %d /dev/zero | tr '\\0' x > big", seqSize)
)

// benchWorkloadMain runs one workload in the child and prints how much it
// did. It reports whether it was invoked as a workload.
func benchWorkloadMain() bool {
	kind := os.Getenv("FUSECTL_MOUNT_BENCH")
	if kind == "" {
		return false
	}
	mnt := os.Getenv("FUSECTL_MOUNT_BENCH_DIR")
	var amount float64
	var err error
	switch kind {
	case "storm":
		var st unix.Stat_t
		for i := range stormFiles {
			if err = unix.Stat(filepath.Join(mnt, "d", fmt.Sprint(i+1)), &st); err != nil {
				break
			}
		}
		amount = stormFiles
	case "small":
		amount, err = smallFilesWorkload(mnt)
	case "seq":
		amount, err = seqReadWorkload(mnt)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(amount)
	return true
}

func smallFilesWorkload(mnt string) (float64, error) {
	data := make([]byte, 4096)
	dir := filepath.Join(mnt, "small")
	if err := unix.Mkdir(dir, 0o755); err != nil {
		return 0, err
	}
	for i := range smallFiles {
		fd, err := unix.Open(filepath.Join(dir, fmt.Sprint(i)), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return 0, err
		}
		_, err = unix.Write(fd, data)
		unix.Close(fd)
		if err != nil {
			return 0, err
		}
	}
	for i := range smallFiles {
		if err := unix.Unlink(filepath.Join(dir, fmt.Sprint(i))); err != nil {
			return 0, err
		}
	}
	return smallFiles, unix.Rmdir(dir)
}

func seqReadWorkload(mnt string) (float64, error) {
	fd, err := unix.Open(filepath.Join(mnt, "big"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 1<<20)
	n := 0
	for {
		k, err := unix.Read(fd, buf)
		if err != nil {
			return 0, err
		}
		if k == 0 {
			break
		}
		n += k
	}
	if n != seqSize {
		return 0, fmt.Errorf("read %d bytes, want %d", n, seqSize)
	}
	return float64(n) / (1 << 20), nil
}

// BenchmarkMetadataStorm stats 10,000 files with zero cache timeouts:
// every stat is a LOOKUP round trip.
func BenchmarkMetadataStorm(b *testing.B) {
	forEachServer(b, false, func(b *testing.B, s benchServer, vs []*benchVariant) {
		for _, v := range vs {
			if !s.readOnly {
				run(b, v.mnt, makeStormFiles)
			}
		}
		runVariants(b, vs, "stat", metadataTarget, false, childWorkload("storm"))
	})
}

// BenchmarkSmallFiles creates, writes (4 KiB), closes and then removes
// 1,000 files.
func BenchmarkSmallFiles(b *testing.B) {
	forEachServer(b, true, func(b *testing.B, _ benchServer, vs []*benchVariant) {
		runVariants(b, vs, "file", smallFilesTarget, false, childWorkload("small"))
	})
}

// BenchmarkSequentialRead reads a 1 GiB file with a cold page cache.
func BenchmarkSequentialRead(b *testing.B) {
	forEachServer(b, false, func(b *testing.B, s benchServer, vs []*benchVariant) {
		for _, v := range vs {
			if !s.readOnly {
				run(b, v.mnt, makeBigFile)
			}
		}
		runVariants(b, vs, "MiB", seqReadTarget, true, childWorkload("seq"))
	})
}
