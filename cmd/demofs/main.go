package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fusectl/fusectl/internal/demofs"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fl := flag.NewFlagSet("demofs", flag.ContinueOnError)
	fl.SetOutput(stderr)
	seed := fl.String("seed", "", "start as a copy of this directory")
	debug := fl.Bool("debug", false, "log every FUSE request and reply")
	ttl := fl.Duration("ttl", time.Second, "kernel cache timeout for entries and attributes (0: no caching)")
	maxWrite := fl.Int("max-write", 0, "largest WRITE accepted, bytes (0: go-fuse default)")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: demofs [-seed DIR] [-debug] [-ttl DURATION] [-max-write N] MOUNTPOINT")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return 2
	}
	if fl.NArg() != 1 {
		fl.Usage()
		return 2
	}
	f, err := demofs.New(demofs.Options{Seed: *seed})
	if err != nil {
		fmt.Fprintln(stderr, "demofs:", err)
		return 1
	}
	srv, err := f.Mount(fl.Arg(0), demofs.MountConfig{TTL: *ttl, Debug: *debug, MaxWrite: *maxWrite})
	if err != nil {
		fmt.Fprintln(stderr, "demofs:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sigs
		if err := srv.Unmount(); err != nil {
			// A /dev/fd/N session cannot be unmounted from here.
			fmt.Fprintln(stderr, "demofs: unmount:", err)
			os.Exit(0)
		}
	}()
	srv.Wait()
	return 0
}
