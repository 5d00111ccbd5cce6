// Command reporting serves the usage reports alone; it is `meterline reporting`.
package main

import (
	"os"

	"github.com/meterline/meterline/internal/app"
)

func main() { os.Exit(app.Service("reporting")) }
