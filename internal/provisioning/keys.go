package provisioning

import (
	"fmt"
	"net/http"
	"slices"

	"go.uber.org/zap"

	"github.com/meterline/meterline/internal/auth"
	"github.com/meterline/meterline/internal/catalog"
	"github.com/meterline/meterline/internal/fault"
	"github.com/meterline/meterline/internal/platform/clock"
	"github.com/meterline/meterline/internal/platform/web"
	"github.com/meterline/meterline/internal/usage"
)

// KeysAPI makes, lists and revokes API keys for machine clients (admin only):
//
//	POST   /v1/provisioning/api_keys       {name, organizations, scopes, expires}: 201 with the key, shown once
//	GET    /v1/provisioning/api_keys       every key, revoked ones too, without secrets
//	GET    /v1/provisioning/api_keys/{id}  one key, without its secret
//	DELETE /v1/provisioning/api_keys/{id}  revokes it: 200 with the revoked key
//
// A key is a record of the provisioning topic (catalog.APIKey) holding the SHA-256 of its
// secret, never the secret, so every process following the topic accepts it within moments
// of its creation and refuses it within moments of its revocation.
type KeysAPI struct {
	cat   *catalog.Catalog
	w     Writer
	clock clock.Clock
	log   *zap.Logger
}

// NewKeysAPI returns the API keys' API over a catalog and the writer that feeds it; clk
// stamps creation and revocation.
func NewKeysAPI(cat *catalog.Catalog, w Writer, clk clock.Clock, log *zap.Logger) *KeysAPI {
	return &KeysAPI{cat: cat, w: w, clock: clock.Or(clk), log: log}
}

// Register adds the routes to mux.
func (k *KeysAPI) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/provisioning/api_keys", adminOnly(k.log, k.create))
	mux.HandleFunc("GET /v1/provisioning/api_keys", adminOnly(k.log, k.list))
	mux.HandleFunc("GET /v1/provisioning/api_keys/{id}", adminOnly(k.log, k.get))
	mux.HandleFunc("DELETE /v1/provisioning/api_keys/{id}", adminOnly(k.log, k.revoke))
}

// KeyRequest is the body of a POST: what the key may do, where, until when (epoch ms; 0 or
// absent: until revoked).
type KeyRequest struct {
	Name          string   `json:"name"`
	Organizations []string `json:"organizations"`
	Scopes        []string `json:"scopes"`
	Expires       int64    `json:"expires"`
}

// keyView is a key as the API shows it: never its hash; its secret (Key) only in the answer
// to its creation.
type keyView struct {
	catalog.APIKey
	// Hash, left empty, shadows the key's hash: with omitempty it is never written (a field
	// tagged "-" would not shadow it, and encoding/json would write the embedded one).
	Hash string `json:"hash,omitempty"`
	Key  string `json:"key,omitempty"`
}

func viewOf(k catalog.APIKey) keyView { return keyView{APIKey: k} }

func (k *KeysAPI) create(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if err := decode(r, &req); err != nil {
		web.WriteError(w, k.log, err)
		return
	}
	id, secret, hash, err := auth.NewKey()
	if err != nil {
		web.WriteError(w, k.log, fmt.Errorf("new API key: %w", err))
		return
	}
	now := k.clock.Now().UnixMilli()
	key := catalog.APIKey{ID: id, Name: req.Name, Hash: hash, Organizations: req.Organizations, Scopes: req.Scopes, Created: now, Expires: req.Expires}
	ps := catalog.APIKeyProblems(key)
	for i, s := range req.Scopes {
		if !auth.KnownScope(s) && !slices.ContainsFunc(ps, func(p fault.Problem) bool { return p.Field == "scopes" }) {
			ps = append(ps, fault.Problem{Field: fmt.Sprintf("scopes[%d]", i), Value: usage.Echo(s),
				Reason: "is not a scope of Meterline: abacus.usage.write, abacus.usage.read, abacus.usage.<resource_id>.write, abacus.usage.<resource_id>.read or meterline.admin"})
		}
	}
	if len(ps) > 0 {
		web.WriteError(w, k.log, fault.Invalid("invalid API key", ps...))
		return
	}
	if err := k.put(r, key); err != nil {
		web.WriteError(w, k.log, err)
		return
	}
	v := viewOf(key)
	v.Key = secret
	w.Header().Set("Location", "/v1/provisioning/api_keys/"+id)
	w.Header().Set("Cache-Control", "no-store")
	web.WriteJSON(w, http.StatusCreated, v)
}

func (k *KeysAPI) put(r *http.Request, key catalog.APIKey) error {
	rec, err := catalog.RecordOf(key)
	if err != nil {
		return err
	}
	if err := k.w.Put(r.Context(), rec); err != nil {
		return fault.Unavailable(err, "the API key could not be stored; retry later")
	}
	return nil
}

func (k *KeysAPI) list(w http.ResponseWriter, _ *http.Request) {
	out := []keyView{}
	for _, key := range k.cat.APIKeys() {
		out = append(out, viewOf(key))
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func (k *KeysAPI) get(w http.ResponseWriter, r *http.Request) {
	key, ok := k.cat.APIKey(r.PathValue("id"))
	if !ok {
		web.WriteError(w, k.log, fault.NotFound("API key %s not found", r.PathValue("id")))
		return
	}
	web.WriteJSON(w, http.StatusOK, viewOf(key))
}

// revoke revokes a key; revoking a revoked key again changes nothing.
func (k *KeysAPI) revoke(w http.ResponseWriter, r *http.Request) {
	key, ok := k.cat.APIKey(r.PathValue("id"))
	if !ok {
		web.WriteError(w, k.log, fault.NotFound("API key %s not found", r.PathValue("id")))
		return
	}
	if key.Revoked == 0 {
		key.Revoked = max(k.clock.Now().UnixMilli(), key.Created)
		if err := k.put(r, key); err != nil {
			web.WriteError(w, k.log, err)
			return
		}
	}
	web.WriteJSON(w, http.StatusOK, viewOf(key))
}
