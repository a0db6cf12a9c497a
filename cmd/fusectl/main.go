// Command fusectl debugs, records and replays FUSE sessions.
//
// See the README for an overview and `fusectl help` for the commands.
package main

import "os"

func main() {
	os.Exit(Main())
}
