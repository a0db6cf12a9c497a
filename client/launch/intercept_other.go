//go:build !amd64 && !arm64

package launch

// The intercept method has no filter for this architecture; Start refuses
// it.
const (
	auditArch          = 0
	sysOpen            = -1
	interceptSupported = false
)
