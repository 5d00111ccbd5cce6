// Command meterline runs any Meterline service: `meterline dev` runs them all in one process,
// `meterline collector`, `meterline sink` one each, and `meterline migrate` applies the
// ClickHouse schema. `meterline help` lists the commands.
package main

import (
	"os"

	"github.com/meterline/meterline/internal/app"
)

func main() { os.Exit(app.Main(os.Args[1:])) }
