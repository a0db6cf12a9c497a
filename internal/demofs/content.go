package demofs

// content holds a file's bytes in fixed-size chunks. A flat slice grown
// by append copied the whole file at every growth and left the old copy to
// the collector: a 1 GiB file written in 4 KiB pieces took over 4 GiB of
// memory. With chunks, growing never copies, and a server holding a GiB
// uses about a GiB. A nil chunk reads as zeros, so a file extended by
// truncate or by a write past its end costs nothing for the hole.
type content struct {
	size   int64
	chunks [][]byte // each chunkSize long, or nil
}

const chunkSize = 64 << 10

// newContent returns content holding a copy of b.
func newContent(b []byte) content {
	var c content
	c.writeAt(b, 0)
	return c
}

// len returns the file size.
func (c *content) len() int64 { return c.size }

// readAt copies the bytes at off into p and returns how many it copied:
// fewer than len(p) only at the end of the file.
func (c *content) readAt(p []byte, off int64) int {
	if off >= c.size {
		return 0
	}
	p = p[:min(int64(len(p)), c.size-off)]
	n := 0
	for n < len(p) {
		i, o := (off+int64(n))/chunkSize, (off+int64(n))%chunkSize
		k := min(len(p)-n, chunkSize-int(o))
		if ch := c.chunks[i]; ch != nil {
			copy(p[n:n+k], ch[o:])
		} else {
			clear(p[n : n+k])
		}
		n += k
	}
	return n
}

// writeAt copies p to off, extending the file if p ends past it.
func (c *content) writeAt(p []byte, off int64) {
	if end := off + int64(len(p)); end > c.size {
		c.truncate(end)
	}
	for n := 0; n < len(p); {
		i, o := (off+int64(n))/chunkSize, (off+int64(n))%chunkSize
		if c.chunks[i] == nil {
			c.chunks[i] = make([]byte, chunkSize)
		}
		n += copy(c.chunks[i][o:], p[n:])
	}
}

// truncate sets the size. Bytes past a shrunk end are zeroed, so that they
// read as zeros if the file grows again.
func (c *content) truncate(size int64) {
	n := int((size + chunkSize - 1) / chunkSize)
	if size < c.size {
		for i := n; i < len(c.chunks); i++ {
			c.chunks[i] = nil
		}
		c.chunks = c.chunks[:n]
		if o := size % chunkSize; o != 0 && c.chunks[n-1] != nil {
			clear(c.chunks[n-1][o:])
		}
	} else if n > len(c.chunks) {
		c.chunks = append(c.chunks, make([][]byte, n-len(c.chunks))...)
	}
	c.size = size
}

// bytes returns a copy of the whole file.
func (c *content) bytes() []byte {
	b := make([]byte, c.size)
	c.readAt(b, 0)
	return b
}
