package main

// ServeCmd runs one component as a server of its own (the split topology, SPEC §1). Each
// component is a subcommand in a file named after it (serve_auth.go, …).
type ServeCmd struct {
	Auth   ServeAuthCmd   `cmd:"" help:"Serve the auth API (login, JWKS, spaces, admin and internal persona routes) on :3001."`
	MCP    ServeMCPCmd    `cmd:"" name:"mcp" help:"Serve the demo app's MCP gateway (Streamable HTTP at /mcp) on :3069."`
	Runner ServeRunnerCmd `cmd:"" name:"runner" help:"Serve the runner (tick loop, /health, /metrics, /diag, /control) on :3070."`
	// Dashboard only reads the store; up serves the same pages at the runner's address.
	Dashboard ServeDashboardCmd `cmd:"" name:"dashboard" help:"Serve the dashboard over a store (read-only) on 127.0.0.1:3071."`
}
