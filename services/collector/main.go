// Command collector runs the usage collection API alone; it is `meterline collector`.
package main

import (
	"os"

	"github.com/meterline/meterline/internal/app"
)

func main() { os.Exit(app.Service("collector")) }
