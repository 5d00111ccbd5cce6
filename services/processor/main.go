// Command processor runs the metering processor alone; it is `meterline processor`.
package main

import (
	"os"

	"github.com/meterline/meterline/internal/app"
)

func main() { os.Exit(app.Service("processor")) }
