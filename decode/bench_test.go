package decode_test

import (
	"testing"

	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// BenchmarkDecode measures the decoder and the printers alone, on the
// mixed workload held in memory (no capture reading): records/s and, with
// -benchmem, allocations per record run (expected 0). text-snap64 prints
// the workload as a capture at the smallest snap length keeps it, where
// many records are cut inside their fixed arguments.
func BenchmarkDecode(b *testing.B) {
	bld := decodetest.New()
	decodetest.Mixed(bld, 100_000)
	msgs := bld.Msgs
	for _, mode := range []string{"decode", "text", "json", "text-snap64"} {
		b.Run(mode, func(b *testing.B) {
			d := decode.NewDecoder(decode.Options{})
			f := &decode.Formatter{Time: decode.TimeUTC}
			var r decode.Record
			var cr capture.Record
			buf := make([]byte, 0, 1<<16)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m := &msgs[i%len(msgs)]
				cr = capture.Record{Time: m.Time, Dir: m.Dir, Msg: m.Data, OrigLen: len(m.Data), Order: bld.O}
				if mode == "text-snap64" && len(m.Data) > 64 {
					cr.Msg, cr.Flags = m.Data[:64], capture.FlagTruncated
				}
				d.Decode(&cr, &r)
				switch mode {
				case "text", "text-snap64":
					buf = f.AppendText(buf[:0], &r)
				case "json":
					buf = f.AppendJSON(buf[:0], &r)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
