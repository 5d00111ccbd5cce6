package focus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go/format"
	"github.com/shopspring/decimal"

	"github.com/meterline/meterline/internal/platform/clock"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.csv with what the tests get")

// specColumn is a line of the FOCUS column list: its feature level, name, nullability, type.
type specColumn struct {
	Level, Name, Type string
	Nullable          bool
}

// readSpec parses testdata/columns-v1.2.txt (copied from FOCUS 1.2's column list:
// "Level|Name|Nullable|Type" lines under "== v1.2").
func readSpec(t *testing.T) map[string]specColumn {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "columns-v1.2.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spec := map[string]specColumn{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "==") {
			continue
		}
		p := strings.Split(line, "|")
		for i := range p {
			// The list as published has a carriage return inside "ChargeClass\r".
			p[i] = strings.TrimSpace(p[i])
		}
		if len(p) != 4 || (p[2] != "True" && p[2] != "False") {
			t.Fatalf("column list: bad line %q", line)
		}
		spec[p[1]] = specColumn{Level: p[0], Name: p[1], Nullable: p[2] == "True", Type: p[3]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(spec) < 50 {
		t.Fatalf("column list has %d columns, want FOCUS 1.2's 57", len(spec))
	}
	return spec
}

// The export's time of the golden files: 2026-11-20T12:00:00Z, billing period 2026-11.
var goldenTime = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC).UnixMilli()

func params(t testing.TB, e *Exporter, query string) Params {
	t.Helper()
	p, err := ParseParams(query, e.r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// export writes the rows of every organization of p in format, as the API does.
func export(t testing.TB, e *Exporter, p Params, format string) []byte {
	t.Helper()
	orgs, err := e.Organizations(p)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	var w rowWriter
	if format == FormatParquet {
		w = NewParquetWriter(&b)
	} else if w, err = NewCSVWriter(&b); err != nil {
		t.Fatal(err)
	}
	for _, org := range orgs {
		rows, err := e.Rows(context.Background(), org, p)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readCSV(t *testing.T, b []byte) [][]string {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("%v in\n%s", err, b)
	}
	return recs
}

// TestColumnsMatchSpec checks what the export writes against FOCUS 1.2's column list: every
// mandatory column is there, every column written is FOCUS's with its type and nullability,
// the Parquet schema says the same (OPTIONAL exactly for the nullable ones, the logical type
// of each FOCUS type), and in a CSV export of the seed every non-nullable column is filled
// and every value parses as its type.
func TestColumnsMatchSpec(t *testing.T) {
	spec := readSpec(t)
	written := map[string]Column{}
	for _, c := range Columns {
		s, ok := spec[c.Name]
		switch {
		case !ok:
			t.Errorf("column %s is not a FOCUS 1.2 column", c.Name)
		case s.Type != c.Type || s.Nullable != c.Nullable:
			t.Errorf("column %s: %s nullable %v, FOCUS 1.2 says %s nullable %v", c.Name, c.Type, c.Nullable, s.Type, s.Nullable)
		}
		if _, dup := written[c.Name]; dup {
			t.Errorf("column %s written twice", c.Name)
		}
		written[c.Name] = c
	}
	for _, s := range spec {
		if _, ok := written[s.Name]; s.Level == "Mandatory" && !ok {
			t.Errorf("mandatory column %s is not written", s.Name)
		}
	}

	fields := Schema.Fields()
	if len(fields) != len(Columns) {
		t.Fatalf("Parquet schema has %d columns, want %d", len(fields), len(Columns))
	}
	for i, f := range fields {
		c := written[f.Name()]
		var typeOK bool
		if lt := f.Type().LogicalType(); lt != nil {
			switch v := lt.Value.(type) {
			case *format.StringType:
				typeOK = c.Type == TypeString
			case *format.JsonType:
				typeOK = c.Type == TypeJSON
			case *format.DecimalType:
				typeOK = c.Type == TypeDecimal && v.Scale == Precision && v.Precision == 38
			case *format.TimestampType:
				typeOK = c.Type == TypeDateTime && v.IsAdjustedToUTC
			}
		}
		if f.Name() != c.Name || f.Optional() != c.Nullable || !typeOK || f.Repeated() {
			t.Errorf("Parquet column %d: %s optional %v type %v, want %s nullable %v of %s", i, f.Name(), f.Optional(), f.Type(), c.Name, c.Nullable, c.Type)
		}
	}

	e := seedExporter(t, goldenTime)
	recs := readCSV(t, export(t, e, params(t, e, "billing_period=2026-11&account_id="+seedAccount), FormatCSV))
	if strings.Join(recs[0], ",") != strings.Join(Header(), ",") {
		t.Fatalf("CSV header %v, want %v", recs[0], Header())
	}
	if len(recs) < 10 {
		t.Fatalf("%d CSV rows, want the seed's", len(recs)-1)
	}
	for n, rec := range recs[1:] {
		for i, v := range rec {
			c := Columns[i]
			if v == "" {
				if !c.Nullable {
					t.Errorf("row %d: non-nullable %s is empty", n, c.Name)
				}
				continue
			}
			var err error
			switch c.Type {
			case TypeDecimal:
				_, err = decimal.NewFromString(v)
			case TypeDateTime:
				_, err = time.Parse(DateTimeFormat, v)
			case TypeJSON:
				var obj map[string]any
				err = json.Unmarshal([]byte(v), &obj)
			}
			if err != nil {
				t.Errorf("row %d: %s %q is no %s: %v", n, c.Name, v, c.Type, err)
			}
		}
	}
}

// golden compares got with testdata/name (or rewrites it under -update).
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := readGolden(name)
	if err != nil {
		t.Fatalf("%v (go test ./internal/report/focus -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./internal/report/focus -update rewrites it):\n%s", path, got)
	}
}

// TestExportGoldens checks the CSV export of the seed's organization and of its account for
// November 2026 as of the 20th, byte for byte, and that the Parquet export holds the same
// values.
func TestExportGoldens(t *testing.T) {
	e := seedExporter(t, goldenTime)
	for name, q := range map[string]string{
		"organization.golden.csv": "billing_period=2026-11&time=2026-11-20T12:00:00Z&organization_id=" + seedOrg,
		"account.golden.csv":      "billing_period=2026-11&time=2026-11-20T12:00:00Z&account_id=" + seedAccount + "&format=parquet",
		"no_account.golden.csv":   "billing_period=2026-11&time=2026-11-20T12:00:00Z&organization_id=" + lonelyOrg,
	} {
		t.Run(name, func(t *testing.T) {
			p := params(t, e, q)
			b := export(t, e, p, FormatCSV)
			golden(t, name, b)
			recs := readCSV(t, b)
			pq := export(t, e, p, FormatParquet)
			got, err := ReadParquet(bytes.NewReader(pq), int64(len(pq)))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(recs)-1 {
				t.Fatalf("Parquet has %d rows, CSV %d", len(got), len(recs)-1)
			}
			for i, r := range got {
				if text := strings.Join(r, ","); text != strings.Join(recs[i+1], ",") {
					t.Errorf("row %d:\nParquet %s\nCSV     %s", i, text, strings.Join(recs[i+1], ","))
				}
			}
		})
	}
}

// TestRowsAtInstants exports the seed at each of clock.Instants (a month's first and last
// seconds, a year's last half second): the object storage rows of the month add up to the
// charges of its two instances (46.09 and 17.03), last month's and later-processed usage are
// left out, and the periods are the export time's month.
func TestRowsAtInstants(t *testing.T) {
	for _, now := range clock.Instants {
		t.Run(now.Format(time.RFC3339Nano), func(t *testing.T) {
			at := now.UnixMilli()
			e := seedExporter(t, at)
			p := params(t, e, "organization_id="+seedOrg+"&time="+now.Format(time.RFC3339Nano)+"&billing_period="+now.Format("2006-01"))
			rows, err := e.Rows(context.Background(), seedOrg, p)
			if err != nil {
				t.Fatal(err)
			}
			sum := map[string]decimal.Decimal{}
			start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
			for _, r := range rows {
				sum[r.ResourceID] = sum[r.ResourceID].Add(r.BilledCost)
				if !r.ChargePeriodStart.Equal(start) || !r.BillingPeriodStart.Equal(start) || !r.BillingPeriodEnd.Equal(start.AddDate(0, 1, 0)) {
					t.Errorf("row %+v: periods not of %s", r, start)
				}
			}
			if len(rows) != 7 || sum["instance-1"].String() != "46.09" || sum["instance-2"].String() != "17.03" || !sum["instance-late"].IsZero() {
				t.Errorf("%d rows, charges %v; want 7 rows, instance-1 46.09, instance-2 17.03", len(rows), sum)
			}
		})
	}
}

// TestDecimal128 round-trips costs through Parquet's DECIMAL(38, 12) bytes, negative and
// at the edges of the range, and shows rounding happens once, half to even.
func TestDecimal128(t *testing.T) {
	for _, s := range []string{"0", "46.09", "-0.000000000001", "-46.09", "99999999999999999999999999.999999999999",
		"-99999999999999999999999999.999999999999"} {
		d := decimal.RequireFromString(s)
		b := decimal128(d)
		if got := Decimal128(b[:]); !got.Equal(d) || !fitsDecimal38(d) {
			t.Errorf("%s: read back %s (fits %v)", s, got, fitsDecimal38(d))
		}
	}
	if fitsDecimal38(decimal.New(1, 26)) {
		t.Error("10^26 fits Decimal(38, 12)")
	}
	if b := decimal128(decimal.RequireFromString("0.0000000000005")); !Decimal128(b[:]).IsZero() {
		t.Errorf("0.5e-12 rounds to %s, want 0 (half to even)", Decimal128(b[:]))
	}
}

func readGolden(name string) ([]byte, error) { return os.ReadFile(filepath.Join("testdata", name)) }
