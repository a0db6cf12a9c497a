package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/fusectl/fusectl/abi"
	"github.com/fusectl/fusectl/client"
)

// ProbeOptions are the inputs of `fusectl probe`.
type ProbeOptions struct {
	IO *IOStreams
	// Start starts the server; tests replace it.
	Start Starter

	ServerFlags
	// JSON prints one JSON object.
	JSON bool
}

// NewCmdProbe builds `fusectl probe`. runF, if set, receives the parsed
// options instead of runProbe (tests).
func NewCmdProbe(f *Factory, runF func(*ProbeOptions) error) *cobra.Command {
	opts := &ProbeOptions{IO: f.IO, Start: startServer}
	cmd := &cobra.Command{
		Use:   "probe [--json] [flags] -- SERVER [ARGS...]",
		Short: "Run the INIT handshake with a server and print what it negotiated",
		Long: heredoc.Doc(`
			Start SERVER on a socketpair, as fusectl's own FUSE client, and run
			the INIT handshake: print the protocol version the server speaks,
			the INIT flags it accepted (by name), its limits, the launch method
			used and the mount options the server asked for (visible with the
			shim methods only).

			{} in the server's arguments marks where its mountpoint goes;
			without it the mountpoint is appended. No mount happens and no
			root is needed for servers that accept /dev/fd/N.
		`),
		Example: heredoc.Doc(`
			$ fusectl probe -- squashfuse -f img.sqfs {}
			$ fusectl probe --json -- bindfs -f /srv/data {}
		`),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := opts.parse(cmd, args, "probe", 0, 0); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return runProbe(cmdContext(cmd), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	opts.bind(cmd)
	return cmd
}

// probeResult is the JSON form of `fusectl probe`.
type probeResult struct {
	Server              []string `json:"server"`
	Method              string   `json:"method"`
	MountOptions        []string `json:"mount_options"`
	Major               uint32   `json:"major"`
	Minor               uint32   `json:"minor"`
	OfferedMinor        uint32   `json:"offered_minor"`
	Flags               []string `json:"flags"`
	FlagsRaw            uint64   `json:"flags_raw"`
	NotOffered          []string `json:"server_flags_not_offered,omitempty"`
	MaxWrite            uint32   `json:"max_write"`
	MaxReadahead        uint32   `json:"max_readahead"`
	MaxPages            uint16   `json:"max_pages"`
	MaxBackground       uint16   `json:"max_background"`
	CongestionThreshold uint16   `json:"congestion_threshold"`
	TimeGran            uint32   `json:"time_gran"`
	MapAlignment        uint16   `json:"map_alignment"`
	MaxStackDepth       uint32   `json:"max_stack_depth"`
	RequestTimeout      uint16   `json:"request_timeout"`
	InitReplySize       int      `json:"init_reply_size"`
}

func flagNames(f abi.InitFlags) []string {
	if f == 0 {
		return []string{}
	}
	return strings.Split(f.String(), "|")
}

func runProbe(ctx context.Context, opts *ProbeOptions) error {
	s, err := openSession(ctx, opts.IO, &opts.ServerFlags, opts.Start)
	if err != nil {
		return err
	}
	in := s.conn.Init()
	r := probeResult{
		Server:              opts.Server,
		Method:              s.srv.Method().String(),
		MountOptions:        s.srv.MountOptions(),
		Major:               in.Major,
		Minor:               in.Minor,
		OfferedMinor:        abi.FUSE_KERNEL_MINOR_VERSION,
		Flags:               flagNames(in.Flags),
		FlagsRaw:            uint64(in.Flags),
		MaxWrite:            in.MaxWrite,
		MaxReadahead:        in.MaxReadahead,
		MaxPages:            in.MaxPages,
		MaxBackground:       in.MaxBackground,
		CongestionThreshold: in.CongestionThreshold,
		TimeGran:            in.TimeGran,
		MapAlignment:        in.MapAlignment,
		MaxStackDepth:       in.MaxStackDepth,
		RequestTimeout:      in.RequestTimeout,
		InitReplySize:       in.ReplySize,
	}
	if extra := in.ServerFlags &^ in.Offered; extra != 0 {
		r.NotOffered = flagNames(extra)
	}
	if r.MountOptions == nil {
		r.MountOptions = []string{}
	}
	if err := s.Close(); err != nil {
		return err
	}
	if opts.JSON {
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	return printProbe(opts.IO, r, in)
}

func printProbe(ios *IOStreams, r probeResult, in client.InitInfo) error {
	mountOpts := strings.Join(r.MountOptions, ",")
	if mountOpts == "" {
		mountOpts = "(not visible with " + r.Method + ")"
	}
	rows := [][2]string{
		{"server", strings.Join(r.Server, " ")},
		{"method", r.Method},
		{"mount options", mountOpts},
		{"protocol", fmt.Sprintf("%d.%d (offered 7.%d)", r.Major, r.Minor, r.OfferedMinor)},
		{"flags", strings.Join(r.Flags, " ")},
	}
	if len(r.NotOffered) > 0 {
		rows = append(rows, [2]string{"ignored flags", strings.Join(r.NotOffered, " ") + " (set by the server, not offered)"})
	}
	rows = append(rows,
		[2]string{"max_write", fmt.Sprint(r.MaxWrite)},
		[2]string{"max_readahead", fmt.Sprintf("%d (server said %d)", r.MaxReadahead, in.Reply.MaxReadahead)},
		[2]string{"max_pages", fmt.Sprint(r.MaxPages)},
		[2]string{"max_background", fmt.Sprint(r.MaxBackground)},
		[2]string{"congestion_threshold", fmt.Sprint(r.CongestionThreshold)},
		[2]string{"time_gran", fmt.Sprintf("%d ns", r.TimeGran)},
	)
	if in.Has(abi.FUSE_MAP_ALIGNMENT) {
		rows = append(rows, [2]string{"map_alignment", fmt.Sprint(r.MapAlignment)})
	}
	if in.Has(abi.FUSE_PASSTHROUGH) {
		rows = append(rows, [2]string{"max_stack_depth", fmt.Sprint(r.MaxStackDepth)})
	}
	if in.Has(abi.FUSE_REQUEST_TIMEOUT) {
		rows = append(rows, [2]string{"request_timeout", fmt.Sprintf("%d s", r.RequestTimeout)})
	}
	rows = append(rows, [2]string{"init reply", fmt.Sprintf("%d bytes", r.InitReplySize)})
	if ios.IsStdoutTTY() {
		tw := tabwriter.NewWriter(ios.Out, 0, 4, 2, ' ', 0)
		for _, row := range rows {
			fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
		}
		return tw.Flush()
	}
	for _, row := range rows {
		if _, err := fmt.Fprintf(ios.Out, "%s\t%s\n", row[0], row[1]); err != nil {
			return err
		}
	}
	return nil
}
