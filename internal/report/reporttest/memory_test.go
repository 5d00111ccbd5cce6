package reporttest_test

import (
	"testing"

	"github.com/meterline/meterline/internal/report"
	"github.com/meterline/meterline/internal/report/reporttest"
)

func TestMemory(t *testing.T) {
	reporttest.Store(t, func(t *testing.T) (report.Store, func(vs ...reporttest.Version)) {
		m := &reporttest.Memory{}
		return m, m.Write
	})
}
