// Package cli is Meterline's command line for people, beside the services: `meterline report`
// prints an organization's usage and charges read from the reporting API, and Progress shows
// how far a long job (such as `meterline plans apply`) has gone, as a bar on a terminal and as
// plain lines otherwise. It speaks to a running Meterline over HTTP only, as any client does.
package cli
