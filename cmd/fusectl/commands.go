package main

import "github.com/spf13/cobra"

// addCommands registers every subcommand on root.
func addCommands(root *cobra.Command, f *Factory) {
	root.AddCommand(NewCmdDecode(f, nil))
	root.AddCommand(NewCmdMount(f, nil))
	root.AddCommand(NewCmdCapture(f, nil))
	root.AddCommand(NewCmdPs(f, nil))
	root.AddCommand(NewCmdAbort(f, nil))
	root.AddCommand(NewCmdProbe(f, nil))
	root.AddCommand(NewCmdLs(f, nil))
	root.AddCommand(NewCmdStat(f, nil))
	root.AddCommand(NewCmdCat(f, nil))
}
