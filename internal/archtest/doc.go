// Package archtest checks, as a test, the package boundaries the design sets:
// which packages may use golang.org/x/sys and which may depend on which.
package archtest
