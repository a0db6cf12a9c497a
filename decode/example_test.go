package decode_test

import (
	"fmt"
	"os"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
	"github.com/fusectl/fusectl/decode"
	"github.com/fusectl/fusectl/decode/decodetest"
)

// A Session pairs replies with requests and resolves paths; a Formatter
// prints each record as one line. Records are reused: decode into the same
// Record and append to the same buffer, and nothing is allocated per
// message in the steady state.
func ExampleSession() {
	b := decodetest.New()
	b.Init(45, 0)
	u := b.Request(abi.FUSE_LOOKUP, 1, decodetest.Name("a.txt"))
	b.Reply(u, 0, decodetest.Entry(2, 6, false))
	u = b.Request(abi.FUSE_READ, 2, &abi.ReadIn{Fh: 1, Size: 4096})
	b.Reply(u, 0, decodetest.Raw("hello\n"))

	s := decode.NewSession(decode.Options{})
	f := &decode.Formatter{Time: decode.TimeRelative}
	var r decode.Record
	var out []byte
	for _, m := range b.Msgs[2:] { // skip INIT
		s.DecodeMsg(m.Time, m.Dir, m.Flags, m.Data, len(m.Data), b.O, &r)
		out = f.AppendText(out, &r)
	}
	os.Stdout.Write(out)
	// Output:
	// +0.000000 #4 LOOKUP n1 "a.txt" pid=4242
	// +0.000010 #4 OK 10µs LOOKUP entry{n2 generation=0 entry_valid=1s attr_valid=1s attr{mode=-rw-r--r-- size=6 ino=2 nlink=1 uid=1000 gid=1000 blocks=1 blksize=4096 rdev=0x0 atime=1767355200 mtime=1767355200 ctime=1767355200}} path="/a.txt"
	// +0.000020 #6 READ n2 "/a.txt" fh=1 offset=0 size=4096 flags=RDONLY pid=4242
	// +0.000030 #6 OK 10µs READ data=6B:68656c6c6f0a
}

// DecodeRequest decodes one message without a session; a reply needs its
// request's opcode, given in a Call.
func ExampleDecodeReply() {
	b := decodetest.New()
	b.Reply(42, abi.Errno(2))
	r, err := decode.DecodeReply(b.Msgs[0].Data, decode.Call{Op: abi.FUSE_LOOKUP}, b.O, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Unique, r.Op, r.Errno)
	// Output: 42 LOOKUP ENOENT
}

// A Filter selects records; reply conditions (errors, latency) select
// replies, which carry their request's opcode, node and pid.
func ExampleFilter() {
	b := decodetest.New()
	decodetest.Realistic(b)
	ops, _ := decode.ParseOps("LOOKUP,READ")
	filter := decode.Filter{Ops: ops, ErrorsOnly: true}
	d := decode.NewDecoder(decode.Options{})
	var r decode.Record
	for _, m := range b.Msgs {
		cr := capture.Record{Time: m.Time, Dir: m.Dir, Msg: m.Data, OrigLen: len(m.Data), Order: b.O}
		d.Decode(&cr, &r)
		if filter.Match(&r) {
			fmt.Printf("#%d %v %v %s\n", r.Unique, r.Op, r.Errno, r.Path)
		}
	}
	// Output:
	// #14 LOOKUP ENOENT /dir/nope.txt
	// #22 READ EINTR /dir/b.txt
}

// Stats count records per operation with latency percentiles.
func ExampleStats() {
	b := decodetest.New()
	decodetest.Realistic(b)
	d := decode.NewDecoder(decode.Options{})
	st := decode.NewStats()
	var r decode.Record
	for _, m := range b.Msgs {
		cr := capture.Record{Time: m.Time, Dir: m.Dir, Msg: m.Data, OrigLen: len(m.Data), Order: b.O}
		d.Decode(&cr, &r)
		st.Add(&r)
	}
	for _, row := range st.Rows()[:4] {
		fmt.Println(row.Name, row.Requests, row.Errors, row.P50, row.Max)
	}
	// Output:
	// LOOKUP 3 1 10µs 10µs
	// GETATTR 1 0 10µs 10µs
	// OPEN 1 0 10µs 10µs
	// READ 2 1 20.095µs 2.01ms
}
