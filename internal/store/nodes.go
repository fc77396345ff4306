package store

import (
	"context"
	"fmt"
	"time"
)

// Node is one hub process sharing the store.
type Node struct {
	Name      string    // host name and HTTP listen address (the owner named on sessions)
	Address   string    // the node's public URL
	SIP       string    // the SIP URI where the node takes requests (sip:host:port;transport=udp)
	StartedAt time.Time // when this run of the node started
	Heartbeat time.Time // its last heartbeat
	Draining  bool      // it takes no new sessions
}

// Heartbeat records that node n is alive now (inserting it the first time).
func (db *DB) Heartbeat(ctx context.Context, n Node) error {
	if err := checkText("heartbeat", n.Name); err != nil {
		return err
	}
	if err := checkText("heartbeat", n.Address); err != nil {
		return err
	}
	if err := checkText("heartbeat", n.SIP); err != nil {
		return err
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO nodes (name, address, sip, started_at, heartbeat_at, draining) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (name) DO UPDATE SET address = excluded.address, sip = excluded.sip, started_at = excluded.started_at,
		heartbeat_at = excluded.heartbeat_at, draining = excluded.draining`,
		n.Name, n.Address, n.SIP, millis(n.StartedAt), millis(n.Heartbeat), boolInt(n.Draining))
	if err != nil {
		return fmt.Errorf("store: heartbeat of %q: %w", n.Name, err)
	}
	return nil
}

// Nodes lists the nodes that have a heartbeat, by name.
func (db *DB) Nodes(ctx context.Context) ([]Node, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, address, sip, started_at, heartbeat_at, draining FROM nodes ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("store: nodes: %w", err)
	}
	defer rows.Close()
	var out []Node
	for rows.Next() {
		var n Node
		var started, beat int64
		var draining int
		if err := rows.Scan(&n.Name, &n.Address, &n.SIP, &started, &beat, &draining); err != nil {
			return nil, fmt.Errorf("store: nodes: %w", err)
		}
		n.StartedAt, n.Heartbeat, n.Draining = time.UnixMilli(started).UTC(), time.UnixMilli(beat).UTC(), draining != 0
		out = append(out, n)
	}
	return out, rows.Err()
}

// ClaimLostNode removes node name if its heartbeat is older than before,
// and reports whether this call did: of several survivors seeing the same
// silent node, exactly one gets true and ends its sessions. A node that
// comes back writes a new heartbeat (and ends what it left at its start).
func (db *DB) ClaimLostNode(ctx context.Context, name string, before time.Time) (bool, error) {
	if err := checkText("claim lost node", name); err != nil {
		return false, err
	}
	res, err := db.w.ExecContext(ctx, `DELETE FROM nodes WHERE name = $1 AND heartbeat_at < $2`, name, millis(before))
	if err != nil {
		return false, fmt.Errorf("store: claim lost node %q: %w", name, err)
	}
	n, err := rowsAffected(res)
	if err != nil {
		return false, fmt.Errorf("store: claim lost node %q: %w", name, err)
	}
	return n == 1, nil
}

// RemoveNode deletes node name's row (a node that stopped cleanly).
func (db *DB) RemoveNode(ctx context.Context, name string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM nodes WHERE name = $1`, name); err != nil {
		return fmt.Errorf("store: remove node %q: %w", name, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// AcquireLease takes or renews lease name for holder until until: it
// succeeds when nobody holds it, when holder does, or when the holder's
// lease ran out before now. Of several nodes asking at once, one gets it.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (bool, error) {
	if err := checkText("lease", name); err != nil {
		return false, err
	}
	if err := checkText("lease", holder); err != nil {
		return false, err
	}
	res, err := db.w.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < $4`,
		name, holder, millis(until), millis(now))
	if err != nil {
		return false, fmt.Errorf("store: lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives lease name up if holder holds it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("store: release lease %q: %w", name, err)
	}
	return nil
}

// SetConsoles records that node has n consoles of agent open (0: none).
func (db *DB) SetConsoles(ctx context.Context, agent, node string, n int) error {
	if err := checkText("consoles", agent); err != nil {
		return err
	}
	if err := checkText("consoles", node); err != nil {
		return err
	}
	var err error
	if n <= 0 {
		_, err = db.w.ExecContext(ctx, `DELETE FROM agent_consoles WHERE agent = $1 AND node = $2`, agent, node)
	} else {
		_, err = db.w.ExecContext(ctx, `INSERT INTO agent_consoles (agent, node, consoles) VALUES ($1, $2, $3)
			ON CONFLICT (agent, node) DO UPDATE SET consoles = excluded.consoles`, agent, node, n)
	}
	if err != nil {
		return fmt.Errorf("store: consoles of %q on %q: %w", agent, node, err)
	}
	return nil
}

// ConsoleNodes lists the nodes where agent has consoles open (every agent:
// "" as agent), as agent → nodes.
func (db *DB) ConsoleNodes(ctx context.Context, agent string) (map[string][]string, error) {
	q, args := `SELECT agent, node FROM agent_consoles ORDER BY agent, node`, []any{}
	if agent != "" {
		q, args = `SELECT agent, node FROM agent_consoles WHERE agent = $1 ORDER BY node`, []any{agent}
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: console nodes: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var a, n string
		if err := rows.Scan(&a, &n); err != nil {
			return nil, fmt.Errorf("store: console nodes: %w", err)
		}
		out[a] = append(out[a], n)
	}
	return out, rows.Err()
}

// ForgetConsoles drops node's consoles (it stopped, restarted or was lost).
func (db *DB) ForgetConsoles(ctx context.Context, node string) error {
	if _, err := db.w.ExecContext(ctx, `DELETE FROM agent_consoles WHERE node = $1`, node); err != nil {
		return fmt.Errorf("store: forget consoles of %q: %w", node, err)
	}
	return nil
}
