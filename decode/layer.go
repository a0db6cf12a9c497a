package decode

import (
	"encoding/binary"
	"fmt"

	"github.com/google/gopacket"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/capture"
)

// LayerTypeFUSE is the gopacket layer type of an .fcap packet: the 8-byte
// pseudo-header and the FUSE message. Its number, 1147, is in the range
// gopacket leaves to applications (1000-1999); 147 recalls LINKTYPE_USER0.
var LayerTypeFUSE = gopacket.RegisterLayerType(1147, gopacket.LayerTypeMetadata{
	Name:    "FUSE",
	Decoder: gopacket.DecodeFunc(decodeFUSE),
})

// FUSE is a gopacket layer and DecodingLayer for .fcap packets (LINKTYPE_USER0
// packets as fusectl writes them).
//
// The DecodingLayer contract, as gopacket's own layers keep it:
// DecodeFromBytes resets the receiver (every field but ByteOrder and Proto
// is rewritten, Record as [DecodeRequestInto] documents); it does not
// allocate in the steady state, except to describe a malformed message;
// the layer and its Record alias the data passed in, so the data must stay
// unchanged while they are used; a message cut at the snap length is
// reported through DecodeFeedback.SetTruncated, not as an error. After an
// error the fields are unspecified.
//
// Requests and notifications are decoded whole. A reply's body needs its
// request's opcode, which a single packet does not carry: the layer
// decodes the reply's header and leaves the body in Record.Data (use a
// [Session] for replies).
type FUSE struct {
	// Contents is the pseudo-header and the FUSE header; Payload the rest
	// of the message.
	Contents, Payload []byte
	// Dir and Flags come from the pseudo-header.
	Dir   capture.Dir
	Flags capture.Flags
	// ByteOrder is the order of the capture's section. Left nil, it is
	// detected from the first packet's length field and kept for the
	// following ones (a section has one order).
	ByteOrder binary.ByteOrder
	// Proto selects the sizes of older minors; nil means DefaultProto.
	Proto *Proto
	// Record is the decoded message.
	Record Record
}

// LayerType returns LayerTypeFUSE.
func (f *FUSE) LayerType() gopacket.LayerType { return LayerTypeFUSE }

// LayerContents returns the pseudo-header and the FUSE header.
func (f *FUSE) LayerContents() []byte { return f.Contents }

// LayerPayload returns the message after the FUSE header.
func (f *FUSE) LayerPayload() []byte { return f.Payload }

// CanDecode returns LayerTypeFUSE.
func (f *FUSE) CanDecode() gopacket.LayerClass { return LayerTypeFUSE }

// NextLayerType returns gopacket.LayerTypeZero: the FUSE layer decodes the
// whole message.
func (f *FUSE) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// DecodeFromBytes decodes an .fcap packet; see the contract on [FUSE].
func (f *FUSE) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if f.ByteOrder == nil {
		f.ByteOrder = detectOrder(data)
	}
	o := byteOrder(f.ByteOrder)
	dir, flags, msg, err := capture.ParsePseudoHeader(data, o)
	if err != nil {
		return fmt.Errorf("decode fcap packet: %w", err)
	}
	f.Dir, f.Flags = dir, flags
	r := &f.Record
	hdr := abi.InHeaderSize
	if dir != capture.DirRequest {
		hdr = abi.OutHeaderSize
	}
	r.Flags = flags
	r.OrigLen = len(msg)
	r.Truncated = flags&capture.FlagTruncated != 0 || (len(msg) >= 4 && int(o.Uint32(msg)) > len(msg))
	if r.Truncated {
		df.SetTruncated()
		if len(msg) >= 4 {
			r.OrigLen = int(o.Uint32(msg))
		}
	}
	n := min(len(msg), hdr)
	f.Contents, f.Payload = data[:capture.PseudoHeaderSize+n], msg[n:]
	p := f.Proto
	switch dir {
	case capture.DirRequest:
		err = DecodeRequestInto(r, msg, o, p)
	case capture.DirReply:
		err = DecodeReplyInto(r, msg, Call{}, o, p)
	default:
		err = DecodeNotifyInto(r, msg, o)
	}
	return err
}

// detectOrder picks the byte order in which the message's length field
// matches its size (or exceeds it, for a message cut at the snap length).
func detectOrder(data []byte) binary.ByteOrder {
	if len(data) < capture.PseudoHeaderSize+4 {
		return binary.LittleEndian
	}
	msg := data[capture.PseudoHeaderSize:]
	le, be := int(binary.LittleEndian.Uint32(msg)), int(binary.BigEndian.Uint32(msg))
	switch {
	case le == len(msg):
		return binary.LittleEndian
	case be == len(msg):
		return binary.BigEndian
	case be > len(msg) && (le < len(msg) || be < le):
		return binary.BigEndian
	}
	return binary.LittleEndian
}

// decodeFUSE is the gopacket.Decoder of LayerTypeFUSE.
func decodeFUSE(data []byte, p gopacket.PacketBuilder) error {
	f := &FUSE{}
	if err := f.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(f)
	return nil
}
