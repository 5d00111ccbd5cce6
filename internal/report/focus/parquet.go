package focus

import (
	"io"
	"math/big"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/shopspring/decimal"
)

// parquetRow is a Row as Parquet writes it (github.com/parquet-go/parquet-go): String columns
// are UTF-8 strings, Decimal columns DECIMAL(38, 12) in 16-byte two's complement (exact, as
// FOCUS asks of costs), Date/Time columns TIMESTAMP(MILLIS, UTC), JSON columns JSON strings;
// a nullable column is OPTIONAL, a pointer here, nil for null. Its fields are Columns, in
// order (TestColumnsMatchSpec checks both against the specification).
type parquetRow struct {
	BilledCost          [16]byte  `parquet:"BilledCost,decimal(12:38)"`
	BillingAccountID    string    `parquet:"BillingAccountId"`
	BillingAccountName  *string   `parquet:"BillingAccountName"`
	BillingCurrency     string    `parquet:"BillingCurrency"`
	BillingPeriodEnd    time.Time `parquet:"BillingPeriodEnd,timestamp(millisecond)"`
	BillingPeriodStart  time.Time `parquet:"BillingPeriodStart,timestamp(millisecond)"`
	ChargeCategory      string    `parquet:"ChargeCategory"`
	ChargeClass         *string   `parquet:"ChargeClass"`
	ChargeDescription   *string   `parquet:"ChargeDescription"`
	ChargeFrequency     string    `parquet:"ChargeFrequency"`
	ChargePeriodEnd     time.Time `parquet:"ChargePeriodEnd,timestamp(millisecond)"`
	ChargePeriodStart   time.Time `parquet:"ChargePeriodStart,timestamp(millisecond)"`
	ConsumedQuantity    *[16]byte `parquet:"ConsumedQuantity,decimal(12:38)"`
	ConsumedUnit        *string   `parquet:"ConsumedUnit"`
	ContractedCost      [16]byte  `parquet:"ContractedCost,decimal(12:38)"`
	ContractedUnitPrice *[16]byte `parquet:"ContractedUnitPrice,decimal(12:38)"`
	EffectiveCost       [16]byte  `parquet:"EffectiveCost,decimal(12:38)"`
	InvoiceIssuerName   string    `parquet:"InvoiceIssuerName"`
	ListCost            [16]byte  `parquet:"ListCost,decimal(12:38)"`
	ListUnitPrice       *[16]byte `parquet:"ListUnitPrice,decimal(12:38)"`
	PricingCategory     *string   `parquet:"PricingCategory"`
	PricingQuantity     *[16]byte `parquet:"PricingQuantity,decimal(12:38)"`
	PricingUnit         *string   `parquet:"PricingUnit"`
	ProviderName        string    `parquet:"ProviderName"`
	PublisherName       string    `parquet:"PublisherName"`
	RegionID            *string   `parquet:"RegionId"`
	ResourceID          *string   `parquet:"ResourceId"`
	ResourceType        *string   `parquet:"ResourceType"`
	ServiceCategory     string    `parquet:"ServiceCategory"`
	ServiceName         string    `parquet:"ServiceName"`
	ServiceSubcategory  string    `parquet:"ServiceSubcategory"`
	SkuID               *string   `parquet:"SkuId"`
	SkuPriceID          *string   `parquet:"SkuPriceId"`
	SubAccountID        *string   `parquet:"SubAccountId"`
	Tags                *string   `parquet:"Tags,json"`
}

// decimal128 is d rounded to Precision places as DECIMAL(38, 12)'s unscaled value: 16 bytes
// of big-endian two's complement. A value beyond 38 digits cannot come from usage_cells
// (Decimal(38, 12)) but could from a charge formula; Rows refuses such a row (fitsDecimal38)
// before any writer sees it.
func decimal128(d decimal.Decimal) [16]byte {
	u := round(d).Shift(Precision).BigInt()
	if u.Sign() < 0 {
		u.Add(u, new(big.Int).Lsh(big.NewInt(1), 128))
	}
	var b [16]byte
	u.FillBytes(b[:])
	return b
}

// Decimal128 reads a DECIMAL(38, 12) value as decimal128 writes it: what a Parquet reader
// (and the tests) get back.
func Decimal128(b []byte) decimal.Decimal {
	u := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		u.Sub(u, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return decimal.NewFromBigInt(u, -Precision)
}

func parquetOf(r *Row, v map[string]*string) parquetRow {
	dec := func(name string) [16]byte { d, _ := decimal.NewFromString(*v[name]); return decimal128(d) }
	decOrNull := func(name string) *[16]byte {
		if v[name] == nil {
			return nil
		}
		b := dec(name)
		return &b
	}
	s := func(name string) string { return *v[name] }
	return parquetRow{
		BilledCost: dec("BilledCost"), BillingAccountID: s("BillingAccountId"), BillingAccountName: v["BillingAccountName"],
		BillingCurrency: s("BillingCurrency"), BillingPeriodEnd: r.BillingPeriodEnd, BillingPeriodStart: r.BillingPeriodStart,
		ChargeCategory: s("ChargeCategory"), ChargeClass: v["ChargeClass"], ChargeDescription: v["ChargeDescription"],
		ChargeFrequency: s("ChargeFrequency"), ChargePeriodEnd: r.ChargePeriodEnd, ChargePeriodStart: r.ChargePeriodStart,
		ConsumedQuantity: decOrNull("ConsumedQuantity"), ConsumedUnit: v["ConsumedUnit"], ContractedCost: dec("ContractedCost"),
		ContractedUnitPrice: decOrNull("ContractedUnitPrice"), EffectiveCost: dec("EffectiveCost"),
		InvoiceIssuerName: s("InvoiceIssuerName"), ListCost: dec("ListCost"), ListUnitPrice: decOrNull("ListUnitPrice"),
		PricingCategory: v["PricingCategory"], PricingQuantity: decOrNull("PricingQuantity"), PricingUnit: v["PricingUnit"],
		ProviderName: s("ProviderName"), PublisherName: s("PublisherName"), RegionID: v["RegionId"], ResourceID: v["ResourceId"],
		ResourceType: v["ResourceType"], ServiceCategory: s("ServiceCategory"), ServiceName: s("ServiceName"),
		ServiceSubcategory: s("ServiceSubcategory"), SkuID: v["SkuId"], SkuPriceID: v["SkuPriceId"],
		SubAccountID: v["SubAccountId"], Tags: v["Tags"],
	}
}

// ParquetWriter writes FOCUS rows as a Parquet file. Parquet's footer comes last, so a file
// cut short (an export that failed after its first rows) is unreadable, never a short file
// that reads as complete.
type ParquetWriter struct {
	w   *parquet.GenericWriter[parquetRow]
	buf []parquetRow
	v   map[string]*string
}

// NewParquetWriter writes to w.
func NewParquetWriter(w io.Writer) *ParquetWriter {
	return &ParquetWriter{w: parquet.NewGenericWriter[parquetRow](w, parquet.Compression(&parquet.Snappy),
		parquet.CreatedBy("meterline", "", "")), v: make(map[string]*string, len(Columns))}
}

// Write writes rows, the values of each as Columns give them (so CSV and Parquet agree).
func (pw *ParquetWriter) Write(rows []Row) error {
	pw.buf = pw.buf[:0]
	for i := range rows {
		for _, c := range Columns {
			pw.v[c.Name] = c.value(&rows[i])
		}
		pw.buf = append(pw.buf, parquetOf(&rows[i], pw.v))
	}
	_, err := pw.w.Write(pw.buf)
	return err
}

// Close writes the footer.
func (pw *ParquetWriter) Close() error { return pw.w.Close() }
