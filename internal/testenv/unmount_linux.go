package testenv

import (
	"syscall"
	"testing"
)

// UnmountOnInterrupt lazily unmounts mnt if the test binary is interrupted
// while tb runs (see UndoOnInterrupt).
func UnmountOnInterrupt(tb testing.TB, mnt string) {
	UndoOnInterrupt(tb, func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
}
