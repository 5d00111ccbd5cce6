// Command provisioning runs the provisioning API alone; it is `meterline provisioning`.
package main

import (
	"os"

	"github.com/meterline/meterline/internal/app"
)

func main() { os.Exit(app.Service("provisioning")) }
