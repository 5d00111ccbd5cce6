package e2e

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/shopspring/decimal"
)

// TestFocusExport posts Abacus' three object storage documents to meterline dev (real broker,
// processor and ClickHouse), then reads the FOCUS export of the month as CSV and as Parquet:
// its BilledCost adds up to the ground truth 46.09 (storage 1, light calls 0.09, heavy calls
// 45), both formats hold the same rows, and bad parameters are 400 naming the field.
func TestFocusExport(t *testing.T) {
	s := newStack(t)
	dev := s.start([]string{"dev"})
	base := "http://" + dev.addr
	org := "us-south:focus-org"
	now := s.nowMs()
	for i := range 3 {
		if r := post(t, dev, objectDoc(org, "instance-1", now-int64(i+1)*1000)); r.status != http.StatusCreated {
			t.Fatalf("POST %d: %d %s", i, r.status, r.body)
		}
	}
	period := time.UnixMilli(now).UTC().Format("2006-01")
	var asOf int64
	var rows [][]string
	waitFor(t, "a FOCUS export of 46.09", func() (bool, string) {
		asOf = s.nowMs()
		r := do(t, http.MethodGet, fmt.Sprintf("%s/v1/export/focus?billing_period=%s&organization_id=%s&time=%d", base, period, url.QueryEscape(org), asOf), "", nil)
		if r.status != http.StatusOK {
			return false, fmt.Sprintf("%d %s", r.status, r.body)
		}
		recs, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		rows = recs
		return sumColumn(t, recs, "BilledCost").String() == "46.09", string(r.body)
	})
	if len(rows) != 4 {
		t.Fatalf("%d rows, want a header and the three metrics", len(rows))
	}
	r := do(t, http.MethodGet, fmt.Sprintf("%s/v1/export/focus?billing_period=%s&organization_id=%s&time=%d&format=parquet", base, period, url.QueryEscape(org), asOf), "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("Parquet: %d %s", r.status, r.body)
	}
	f, err := parquet.OpenFile(bytes.NewReader(r.body), int64(len(r.body)))
	if err != nil {
		t.Fatal(err)
	}
	billed, ok := f.Schema().Lookup("BilledCost")
	if !ok {
		t.Fatal("no BilledCost column in the Parquet file")
	}
	pr := parquet.NewReader(f)
	defer pr.Close()
	buf := make([]parquet.Row, 16)
	n, _ := pr.ReadRows(buf)
	total := decimal.Zero
	for _, row := range buf[:n] {
		b := row[billed.ColumnIndex].ByteArray()
		u := new(big.Int).SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
		total = total.Add(decimal.NewFromBigInt(u, -12))
	}
	if n != len(rows)-1 || total.String() != "46.09" {
		t.Errorf("Parquet: %d rows, BilledCost %s; want %d rows and 46.09", n, total, len(rows)-1)
	}

	bad := do(t, http.MethodGet, base+"/v1/export/focus?billing_period=2026-13&organization_id="+url.QueryEscape(org), "", nil)
	if bad.status != http.StatusBadRequest || path(t, bad.json(t), "problems", 0, "field") != "billing_period" {
		t.Errorf("bad period: %d %s, want 400 naming billing_period", bad.status, bad.body)
	}
}

// sumColumn adds up a CSV column of decimals.
func sumColumn(t *testing.T, recs [][]string, name string) decimal.Decimal {
	t.Helper()
	col := -1
	for i, h := range recs[0] {
		if h == name {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no column %s in %v", name, recs[0])
	}
	sum := decimal.Zero
	for _, rec := range recs[1:] {
		sum = sum.Add(decimal.RequireFromString(rec[col]))
	}
	return sum
}
