// Command fusectl debugs and records FUSE sessions.
//
// See the README for an overview and `fusectl help` for the commands.
package main

import "os"

func main() {
	os.Exit(Main())
}
