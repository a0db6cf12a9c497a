package client

import (
	"context"
	"fmt"

	"github.com/fusectl/fusectl/abi"
)

// Notification is one server-to-client message (unique 0), decoded.
type Notification struct {
	// Code says which notification this is.
	Code abi.NotifyCode
	// Body is the fixed part: *abi.NotifyPollWakeupOut,
	// *abi.NotifyInvalInodeOut, *abi.NotifyInvalEntryOut,
	// *abi.NotifyStoreOut, *abi.NotifyRetrieveOut, *abi.NotifyDeleteOut or
	// *abi.NotifyPruneOut; nil for RESEND and INC_EPOCH.
	Body any
	// Name is the entry name of INVAL_ENTRY and DELETE.
	Name []byte
	// Data is the data of STORE.
	Data []byte
	// NodeIDs are the nodes of PRUNE.
	NodeIDs []uint64
}

// onNotify registers an internal handler (the FS view's cache
// invalidation), called before Options.OnNotify.
func (c *Conn) onNotify(f func(Notification)) {
	c.mu.Lock()
	c.hooks = append(c.hooks, f)
	c.mu.Unlock()
}

// notify decodes and dispatches a notification; one that breaks the
// kernel's size rules (fs/fuse/notify.c) is counted, logged and dropped.
func (c *Conn) notify(h abi.OutHeader, msg []byte) {
	code := abi.NotifyCode(h.Error)
	n, err := decodeNotification(code, msg[abi.OutHeaderSize:], int(h.Len) != len(msg), c.order)
	if err != nil {
		c.stats.bad.Add(1)
		c.logf("fuse client: notification %s: %v", code, err)
		return
	}
	c.stats.notifies.Add(1)
	switch code {
	case abi.FUSE_NOTIFY_RESEND:
		c.resend()
	case abi.FUSE_NOTIFY_INC_EPOCH:
		c.stats.epoch.Add(1)
	case abi.FUSE_NOTIFY_RETRIEVE:
		c.answerRetrieve(n.Body.(*abi.NotifyRetrieveOut))
	}
	c.mu.Lock()
	hooks := c.hooks
	c.mu.Unlock()
	for _, f := range hooks {
		f(n)
	}
	if c.opts.OnNotify != nil {
		c.opts.OnNotify(n)
	}
}

// decodeNotification checks and decodes a notification body.
func decodeNotification(code abi.NotifyCode, b []byte, badLen bool, o abi.ByteOrder) (Notification, error) {
	n := Notification{Code: code}
	if badLen {
		return n, fmt.Errorf("%w: header len does not match the message", ErrBadReply)
	}
	exact := func(size int) error {
		if len(b) != size {
			return fmt.Errorf("%w: body of %d bytes, want %d", ErrBadReply, len(b), size)
		}
		return nil
	}
	named := func(fixed, namelen int) error {
		if namelen < 0 || len(b) != fixed+namelen+1 {
			return fmt.Errorf("%w: body of %d bytes, want %d for a %d-byte name", ErrBadReply, len(b), fixed+namelen+1, namelen)
		}
		if b[fixed+namelen] != 0 {
			return fmt.Errorf("%w: name not NUL-terminated", ErrBadReply)
		}
		n.Name = append([]byte(nil), b[fixed:fixed+namelen]...)
		return nil
	}
	switch code {
	case abi.FUSE_NOTIFY_POLL:
		v := new(abi.NotifyPollWakeupOut)
		n.Body = v
		if err := exact(v.SizeBytes()); err != nil {
			return n, err
		}
		_, err := v.Unmarshal(b, o)
		return n, err
	case abi.FUSE_NOTIFY_INVAL_INODE:
		v := new(abi.NotifyInvalInodeOut)
		n.Body = v
		if err := exact(v.SizeBytes()); err != nil {
			return n, err
		}
		_, err := v.Unmarshal(b, o)
		return n, err
	case abi.FUSE_NOTIFY_INVAL_ENTRY:
		v := new(abi.NotifyInvalEntryOut)
		n.Body = v
		if _, err := v.Unmarshal(b, o); err != nil {
			return n, err
		}
		return n, named(v.SizeBytes(), int(v.Namelen))
	case abi.FUSE_NOTIFY_DELETE:
		v := new(abi.NotifyDeleteOut)
		n.Body = v
		if _, err := v.Unmarshal(b, o); err != nil {
			return n, err
		}
		return n, named(v.SizeBytes(), int(v.Namelen))
	case abi.FUSE_NOTIFY_STORE:
		v := new(abi.NotifyStoreOut)
		n.Body = v
		rest, err := v.Unmarshal(b, o)
		if err != nil {
			return n, err
		}
		if uint64(len(rest)) != uint64(v.Size) {
			return n, fmt.Errorf("%w: %d data bytes, header says %d", ErrBadReply, len(rest), v.Size)
		}
		n.Data = append([]byte(nil), rest...)
		return n, nil
	case abi.FUSE_NOTIFY_RETRIEVE:
		v := new(abi.NotifyRetrieveOut)
		n.Body = v
		if err := exact(v.SizeBytes()); err != nil {
			return n, err
		}
		_, err := v.Unmarshal(b, o)
		return n, err
	case abi.FUSE_NOTIFY_PRUNE:
		v := new(abi.NotifyPruneOut)
		n.Body = v
		rest, err := v.Unmarshal(b, o)
		if err != nil {
			return n, err
		}
		if uint64(len(rest)) != 8*uint64(v.Count) {
			return n, fmt.Errorf("%w: %d bytes of node IDs for count %d", ErrBadReply, len(rest), v.Count)
		}
		n.NodeIDs = make([]uint64, v.Count)
		for i := range n.NodeIDs {
			n.NodeIDs[i] = o.Uint64(rest[8*i:])
		}
		return n, nil
	case abi.FUSE_NOTIFY_RESEND, abi.FUSE_NOTIFY_INC_EPOCH:
		return n, nil // the kernel ignores the size
	}
	return n, fmt.Errorf("%w: unknown notification code %d", ErrBadReply, int32(code))
}

// answerRetrieve answers FUSE_NOTIFY_RETRIEVE with FUSE_NOTIFY_REPLY. The
// client keeps no page cache, so the reply carries no data, as the kernel's
// does for pages it does not hold.
func (c *Conn) answerRetrieve(r *abi.NotifyRetrieveOut) {
	in := abi.NotifyRetrieveIn{Offset: r.Offset}
	body := in.Append(nil, c.order)
	h := abi.InHeader{Len: uint32(abi.InHeaderSize + len(body)), Opcode: abi.FUSE_NOTIFY_REPLY,
		Unique: r.NotifyUnique, NodeID: r.NodeID}
	msg := append(h.Append(nil, c.order), body...)
	c.goAsync(func() {
		if err := c.write(context.Background(), [][]byte{msg}); err != nil {
			c.logf("fuse client: send NOTIFY_REPLY: %v", err)
		}
	})
}

// resend re-sends every request still waiting for a reply, with
// FUSE_UNIQUE_RESEND set in its unique, as the kernel does on
// FUSE_NOTIFY_RESEND.
func (c *Conn) resend() {
	var msgs [][][]byte
	c.mu.Lock()
	for key, cl := range c.pending {
		if key&abi.FUSE_UNIQUE_RESEND != 0 {
			continue
		}
		var h abi.InHeader
		if _, err := h.Unmarshal(cl.parts[0], c.order); err != nil {
			continue
		}
		h.Unique |= abi.FUSE_UNIQUE_RESEND
		delete(c.pending, key)
		cl.key = h.Unique
		c.pending[cl.key] = cl
		parts := append([][]byte{h.Append(nil, c.order)}, cl.parts[1:]...)
		msgs = append(msgs, parts)
	}
	c.mu.Unlock()
	if len(msgs) == 0 {
		return
	}
	c.goAsync(func() {
		for _, parts := range msgs {
			if err := c.write(context.Background(), parts); err != nil {
				c.logf("fuse client: resend: %v", err)
				return
			}
		}
	})
}
