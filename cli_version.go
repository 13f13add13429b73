package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// VersionCmd is "scimd version".
type VersionCmd struct{}

// Help shows examples.
func (VersionCmd) Help() string {
	return `Examples:
  scimd version`
}

// Run prints version, commit and Go version.
func (VersionCmd) Run() error {
	c := commit
	if c == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	if c == "" {
		c = "unknown"
	}
	fmt.Printf("scimd %s\ncommit %s\n%s %s/%s\n", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
