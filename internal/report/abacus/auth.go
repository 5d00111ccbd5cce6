package abacus

import (
	"context"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/fault"
)

// authorize refuses a GraphQL root field its principal may not read, before anything of it is
// built: organization and organizations need every resource of each organization named; account
// needs every resource of each of the account's organizations (an account the principal may
// not read is refused whether it exists or not, so account ids cannot be probed);
// resource_instance needs some resource of the organization, and its report the instance's
// resource (checked once it is built, as the resource is known then).
func (ex *execution) authorize(ctx context.Context, field string, args map[string]any) error {
	str := func(name string) string { s, _ := args[name].(string); return s }
	switch field {
	case "organization":
		return auth.RequireReadAll(ctx, str("organization_id"))
	case "organizations":
		ids, _ := args["organization_ids"].([]any)
		for _, id := range ids {
			if s, ok := id.(string); ok {
				if err := auth.RequireReadAll(ctx, s); err != nil {
					return err
				}
			}
		}
		return nil
	case "account":
		id := str("account_id")
		if p := auth.From(ctx); p != nil && p.Admin {
			return nil
		}
		a, ok := ex.g.accounts.Account(id)
		if !ok || len(a.Organizations) == 0 {
			return fault.Forbidden("this token may not read account %s", id)
		}
		for _, org := range a.Organizations {
			// The error names no organization: they are the account's, which it may not read.
			if err := auth.RequireReadAll(ctx, org); err != nil {
				return fault.Forbidden("this token may not read account %s", id)
			}
		}
		return nil
	case "resource_instance":
		return auth.RequireReadSome(ctx, str("organization_id"))
	}
	return nil
}
