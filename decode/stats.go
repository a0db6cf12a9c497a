package decode

import (
	"slices"
	"strconv"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// Latency histogram range: 1ns to one hour, 2 significant digits (1%
// precision, about 36 KiB per opcode; 3 digits would take 270 KiB).
const (
	histMin     = 1
	histMax     = int64(time.Hour)
	histSigFigs = 2
)

// Stats counts records per opcode and notify code, with latency
// percentiles from HDR histograms. The zero value is not usable; call
// NewStats.
type Stats struct {
	ops      map[abi.Opcode]*opStats
	notifies map[abi.NotifyCode]uint64
	records  uint64
	// malformed and unpaired are counted from records.
	malformed, unpaired uint64
	// synthesized counts records fusectl wrote for a capture that started
	// mid-session; they are not traffic, so no row counts them.
	synthesized uint64
	// lost counts messages the recorder lost (Record.Lost).
	lost uint64
}

type opStats struct {
	requests, replies, errors uint64
	hist                      *hdrhistogram.Histogram
	// max is exact; the histogram rounds to its precision.
	max int64
}

// NewStats returns empty statistics.
func NewStats() *Stats {
	return &Stats{ops: map[abi.Opcode]*opStats{}, notifies: map[abi.NotifyCode]uint64{}}
}

// maxStatOps bounds the opcodes tracked separately (every known opcode
// fits); hostile input with many unknown opcodes shares one row, OTHER.
const maxStatOps = 64

// Add counts a record.
func (s *Stats) Add(r *Record) {
	s.records++
	s.lost += r.Lost
	if r.Malformed != nil {
		s.malformed++
	}
	if r.Flags&capture.FlagSynthesized != 0 {
		// Their zero latencies would drag every percentile of LOOKUP down.
		s.synthesized++
		return
	}
	if r.Dir == capture.DirNotify {
		s.notifies[r.Notify]++
		return
	}
	op := r.Op
	o := s.ops[op]
	if o == nil {
		if len(s.ops) >= maxStatOps {
			op = abi.Opcode(0xffffffff)
			o = s.ops[op]
		}
		if o == nil {
			o = &opStats{}
			s.ops[op] = o
		}
	}
	if r.Dir == capture.DirRequest {
		o.requests++
		return
	}
	o.replies++
	if !r.Paired {
		s.unpaired++
	}
	if r.Errno != 0 {
		o.errors++
	}
	if r.Paired {
		if o.hist == nil {
			o.hist = hdrhistogram.New(histMin, histMax, histSigFigs)
		}
		v := min(max(int64(r.Latency), histMin), histMax)
		o.hist.RecordValue(v)
		o.max = max(o.max, v)
	}
}

// AddLost counts n messages the recorder lost that no record marks (lost
// after the last one).
func (s *Stats) AddLost(n uint64) { s.lost += n }

// OpRow is one line of the statistics.
type OpRow struct {
	// Name is the opcode name, or NOTIFY_<code name> for notifications.
	Name string
	// Notify marks a notify code's row.
	Notify bool
	// Requests, Replies and Errors count the records; notifications count
	// in Requests.
	Requests, Replies, Errors uint64
	// Timed counts the paired replies, which the latency percentiles are
	// over; they are zero without any.
	Timed              uint64
	P50, P90, P99, Max time.Duration
}

// Rows returns one row per opcode (in opcode order) then per notify code.
func (s *Stats) Rows() []OpRow {
	var rows []OpRow
	ops := make([]abi.Opcode, 0, len(s.ops))
	for op := range s.ops {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	for _, op := range ops {
		o := s.ops[op]
		row := OpRow{Name: op.String(), Requests: o.requests, Replies: o.replies, Errors: o.errors}
		switch {
		case op == 0:
			row.Name = "?"
		case op == abi.Opcode(0xffffffff):
			row.Name = "OTHER"
		}
		if o.hist != nil && o.hist.TotalCount() > 0 {
			row.Timed = uint64(o.hist.TotalCount())
			// Percentiles are bucket upper bounds, never past the exact max.
			row.P50 = time.Duration(min(o.hist.ValueAtQuantile(50), o.max))
			row.P90 = time.Duration(min(o.hist.ValueAtQuantile(90), o.max))
			row.P99 = time.Duration(min(o.hist.ValueAtQuantile(99), o.max))
			row.Max = time.Duration(o.max)
		}
		rows = append(rows, row)
	}
	codes := make([]abi.NotifyCode, 0, len(s.notifies))
	for c := range s.notifies {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		rows = append(rows, OpRow{Name: "NOTIFY_" + c.String(), Notify: true, Requests: s.notifies[c]})
	}
	return rows
}

// AppendTable appends the statistics as a table: columns aligned with
// spaces when aligned is set (for a terminal), tab-separated otherwise.
func (s *Stats) AppendTable(b []byte, aligned bool) []byte {
	head := []string{"OP", "COUNT", "REPLIES", "ERRORS", "P50", "P90", "P99", "MAX"}
	cells := [][]string{head}
	var tot OpRow
	for _, r := range s.Rows() {
		cells = append(cells, []string{r.Name, u(r.Requests), u(r.Replies), u(r.Errors), dur(r.P50, r.Timed), dur(r.P90, r.Timed), dur(r.P99, r.Timed), dur(r.Max, r.Timed)})
		tot.Requests += r.Requests
		tot.Replies += r.Replies
		tot.Errors += r.Errors
	}
	cells = append(cells, []string{"TOTAL", u(tot.Requests), u(tot.Replies), u(tot.Errors), "", "", "", ""})
	width := make([]int, len(head))
	for _, row := range cells {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, row := range cells {
		for i, c := range row {
			if i > 0 {
				if aligned {
					b = append(b, "  "...)
				} else {
					b = append(b, '\t')
				}
			}
			if aligned && i > 0 {
				for n := len([]rune(c)); n < width[i]; n++ {
					b = append(b, ' ')
				}
			}
			b = append(b, c...)
			if aligned && i == 0 {
				for n := len([]rune(c)); n < width[i]; n++ {
					b = append(b, ' ')
				}
			}
		}
		if aligned {
			for len(b) > 0 && b[len(b)-1] == ' ' {
				b = b[:len(b)-1]
			}
		}
		b = append(b, '\n')
	}
	b = append(b, "records="...)
	b = strconv.AppendUint(b, s.records, 10)
	if s.synthesized > 0 {
		b = append(b, " synthesized="...)
		b = strconv.AppendUint(b, s.synthesized, 10)
	}
	if s.lost > 0 {
		b = append(b, " lost="...)
		b = strconv.AppendUint(b, s.lost, 10)
	}
	b = append(b, " unpaired="...)
	b = strconv.AppendUint(b, s.unpaired, 10)
	b = append(b, " malformed="...)
	b = strconv.AppendUint(b, s.malformed, 10)
	return append(b, '\n')
}

func u(v uint64) string { return strconv.FormatUint(v, 10) }

func dur(d time.Duration, timed uint64) string {
	if timed == 0 {
		return "-"
	}
	return string(appendDur(nil, int64(d)))
}

// AppendJSON appends the statistics as one JSON object: {"records":N,
// "synthesized":N, "lost":N, "unpaired":N, "malformed":N, "ops":[{"op":"LOOKUP",
// "count":N,"replies":N,"errors":N,"timed":N,"p50_ns":N,"p90_ns":N,"p99_ns":N,"max_ns":N},
// ...], "notifies":[{"op":"INVAL_INODE","count":N}, ...]} and a newline.
func (s *Stats) AppendJSON(b []byte) []byte {
	b = append(b, `{"records":`...)
	b = strconv.AppendUint(b, s.records, 10)
	b = append(b, `,"synthesized":`...)
	b = strconv.AppendUint(b, s.synthesized, 10)
	b = append(b, `,"lost":`...)
	b = strconv.AppendUint(b, s.lost, 10)
	b = append(b, `,"unpaired":`...)
	b = strconv.AppendUint(b, s.unpaired, 10)
	b = append(b, `,"malformed":`...)
	b = strconv.AppendUint(b, s.malformed, 10)
	b = append(b, `,"ops":[`...)
	first := true
	var notes []OpRow
	for _, r := range s.Rows() {
		if r.Notify {
			notes = append(notes, r)
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"op":`...)
		b = appendJSONString(b, []byte(r.Name))
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, r.Requests, 10)
		b = append(b, `,"replies":`...)
		b = strconv.AppendUint(b, r.Replies, 10)
		b = append(b, `,"errors":`...)
		b = strconv.AppendUint(b, r.Errors, 10)
		b = append(b, `,"timed":`...)
		b = strconv.AppendUint(b, r.Timed, 10)
		for _, p := range []struct {
			k string
			v time.Duration
		}{{"p50_ns", r.P50}, {"p90_ns", r.P90}, {"p99_ns", r.P99}, {"max_ns", r.Max}} {
			b = append(b, `,"`...)
			b = append(b, p.k...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, int64(p.v), 10)
		}
		b = append(b, '}')
	}
	b = append(b, `],"notifies":[`...)
	for i, r := range notes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":`...)
		b = appendJSONString(b, []byte(r.Name[7:]))
		b = append(b, `,"count":`...)
		b = strconv.AppendUint(b, r.Requests, 10)
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}
