package abacus

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/web"
)

// FuzzGraphQL runs any GraphQL request (a query, an operation name and the JSON of its
// variables, as a POST body carries them) over seed 001's usage in the in-memory store. Its
// seeds are in testdata/fuzz/FuzzGraphQL: seed 001's nine example queries, the queries of the
// tests, and hostile ones (time arguments of 900,000 digits, 1e400, RFC 3339 and negative;
// invalid UTF-8, NUL, "." and ".." ids; repeated __typename, fragment cycles and fragment
// bombs, introspection, mutations, several operations).
//
// Every request is answered: data, or errors each with a message; the answer renders as
// JSON; and an error is never of a kind answered 5xx, since nothing in a request can make
// the in-memory store fail.
func FuzzGraphQL(f *testing.F) {
	g, err := NewGraphQL(seedReports(f), fakeAccounts{seedAccount: {AccountID: seedAccount, Organizations: []string{seedOrg, seedOrg2}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, query, operationName string, variables []byte) {
		req := Request{Query: query, OperationName: operationName}
		if len(variables) > 0 && json.Unmarshal(variables, &req.Variables) != nil {
			return // the API answers 400 before Execute
		}
		resp := g.Execute(auth.AsAdminContext(context.Background()), req)
		if resp == nil {
			t.Fatal("no response")
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("the response does not render: %v", err)
		}
		if resp.Data == nil && len(resp.Errors) == 0 {
			t.Fatal("a response with neither data nor errors")
		}
		for _, e := range resp.Errors {
			if e.Message == "" {
				t.Errorf("an error without a message: %#v", e)
			}
			if e.Err != nil && web.Status(e.Err) >= 500 {
				t.Errorf("error %q is of kind %s (%d)", e.Message, fault.KindOf(e.Err), web.Status(e.Err))
			}
		}
		if len(resp.Errors) > 0 && web.StatusOf(resp.Kind) >= 500 {
			t.Errorf("answered %d (%s): %v", web.StatusOf(resp.Kind), resp.Kind, resp.Errors)
		}
	})
}
