package main

import "github.com/spf13/cobra"

// addCommands registers every subcommand on root.
func addCommands(root *cobra.Command, f *Factory) {
	root.AddCommand(NewCmdDecode(f, nil))
}
