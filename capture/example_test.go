package capture_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"time"

	"github.com/fusectl/fusectl/capture"
)

// A capture of one connection: a request and its reply, read back without
// allocating per record.
func Example() {
	var buf bytes.Buffer
	w, err := capture.NewWriter(&buf, capture.WriterOptions{
		Interfaces: []capture.Interface{{Name: "/mnt/data", Description: "squashfuse img.sqfs /mnt/data"}},
		ByteOrder:  binary.LittleEndian,
	})
	if err != nil {
		log.Fatal(err)
	}
	req := make([]byte, 40+8) // in-header + body
	binary.LittleEndian.PutUint32(req, uint32(len(req)))
	reply := make([]byte, 16) // out-header only
	binary.LittleEndian.PutUint32(reply, uint32(len(reply)))
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	w.WriteMsg(t0, 0, capture.DirRequest, 0, req)
	w.WriteMsg(t0.Add(42*time.Microsecond), 0, capture.DirReply, 0, reply)
	if err := w.Close(); err != nil { // Close (or Flush) is required
		log.Fatal(err)
	}

	r, err := capture.NewReader(&buf, capture.ReaderOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Interfaces()[0].Name)
	var rec capture.Record
	for {
		err := r.NextInto(&rec) // rec.Msg is reused: copy what must be kept
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rec.Time.Format(time.StampMicro), rec.Dir, len(rec.Msg), rec.Order.Uint32(rec.Msg), rec.Offset)
	}
	fmt.Println("truncated:", r.Truncated())
	// Output:
	// /mnt/data
	// Jan  2 03:04:05.000000 request 48 48 128
	// Jan  2 03:04:05.000042 reply 16 16 216
	// truncated: false
}
