package focus

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

// Path is the export's route.
const Path = "/v1/export/focus"

// API serves GET /v1/export/focus (ParseParams names its query parameters).
//
// A request needs a principal that may read every resource of each organization exported:
// organization_id's, or every organization of account_id's account (an account the principal
// may not read is refused 403 whether it exists or not, so that account ids cannot be probed;
// an unknown account is 404 to an administrator). Bad parameters are 400 with a JSON body
// naming each problem; an export without rows (no usage of the period as of the time) is 404.
// The answer streams: the header (CSV) or the file (Parquet) starts with the first
// organization's rows, and an error after that cuts the connection, so that a client never
// takes a short export for a whole one.
type API struct {
	e   *Exporter
	log *zap.Logger
}

// NewAPI returns the export's API.
func NewAPI(e *Exporter, log *zap.Logger) *API { return &API{e: e, log: log} }

// Register adds the route to mux.
func (a *API) Register(mux *http.ServeMux) { mux.HandleFunc("GET "+Path, a.export) }

// authorize refuses a principal that may not read every organization of the export.
func (a *API) authorize(ctx context.Context, p Params) error {
	if p.Organization != "" {
		return auth.RequireReadAll(ctx, p.Organization)
	}
	if pr := auth.From(ctx); pr != nil && pr.Admin {
		return nil
	}
	acct, ok := a.e.cat.Account(p.Account)
	if !ok || len(acct.Organizations) == 0 {
		return fault.Forbidden("this token may not read account %s", p.Account)
	}
	for _, org := range acct.Organizations {
		if err := auth.RequireReadAll(ctx, org); err != nil {
			return fault.Forbidden("this token may not read account %s", p.Account)
		}
	}
	return nil
}

// rowWriter is the CSV or the Parquet writer.
type rowWriter interface {
	Write(rows []Row) error
	Close() error
}

func (a *API) export(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	// Authentication comes first: the parameters of a request without credentials are not
	// looked at (a 401 says nothing of them).
	if err := auth.RequireReadsAny(ctx); err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	p, err := ParseParams(req.URL.RawQuery, a.e.r)
	if err == nil {
		err = a.authorize(ctx, p)
	}
	var orgs []string
	if err == nil {
		orgs, err = a.e.Organizations(p)
	}
	if err != nil {
		web.WriteError(w, a.log, err)
		return
	}
	var out rowWriter
	total := 0
	for _, org := range orgs {
		rows, err := a.e.Rows(ctx, org, p)
		if err == nil && total+len(rows) > a.e.MaxRows {
			err = &fault.Error{Kind: fault.KindTooLarge, Message: "export too large", Problems: []fault.Problem{{Field: "billing_period",
				Reason: "more than " + strconv.Itoa(a.e.MaxRows) + " rows: export each organization of the account on its own"}}}
		}
		if err == nil && out == nil && len(rows) > 0 {
			out, err = a.start(w, p)
		}
		if err == nil && len(rows) > 0 {
			err = out.Write(rows)
		}
		if err != nil {
			a.fail(w, out != nil, err)
			return
		}
		total += len(rows)
	}
	if out == nil {
		web.WriteError(w, a.log, fault.NotFound("no rated usage in billing period %s as of %d", p.Start.Format("2006-01"), p.AsOf))
		return
	}
	if err := out.Close(); err != nil {
		a.fail(w, true, err)
	}
}

// start writes the answer's headers and returns its row writer.
func (a *API) start(w http.ResponseWriter, p Params) (rowWriter, error) {
	name := "focus-" + p.Start.Format("2006-01")
	w.Header().Set("Meterline-Settled", strconv.FormatBool(a.e.r.Settled(p.AsOf)))
	if p.Format == FormatParquet {
		w.Header().Set("Content-Type", "application/vnd.apache.parquet")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.parquet"`)
		w.WriteHeader(http.StatusOK)
		return NewParquetWriter(w), nil
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8; header=present")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
	w.WriteHeader(http.StatusOK)
	return NewCSVWriter(w)
}

// fail answers err, or once the answer has begun, logs it and cuts the connection.
func (a *API) fail(w http.ResponseWriter, started bool, err error) {
	if !started {
		web.WriteError(w, a.log, err)
		return
	}
	if !errors.Is(err, context.Canceled) {
		a.log.Error("FOCUS export failed after its first rows", zap.Error(err))
	}
	panic(http.ErrAbortHandler)
}
