// Command sink runs the raw event sink alone; it is `meterline sink`.
package main

import (
	"os"

	"github.com/meterline/meterline/internal/app"
)

func main() { os.Exit(app.Service("sink")) }
