//go:build !amd64 && !arm64

package launch

// The intercept method has no filter for this architecture; Start refuses
// it.
const (
	auditArch          = 0
	interceptSupported = false
)

var archSyscalls []uint32

func isOpen(int32) bool { return false }
