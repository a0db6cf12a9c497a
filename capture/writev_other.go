//go:build !linux

package capture

import "syscall"

// haveWritev: Writers copy every message into their buffer here.
const haveWritev = false

func writevAll(syscall.RawConn, [][]byte) error { panic("writev not available") }
