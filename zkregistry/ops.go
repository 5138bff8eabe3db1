package zkregistry

import (
	"errors"
	"fmt"

	"github.com/go-zookeeper/zk"
)

// CreateMode is a znode's lifetime and naming.
type CreateMode int32

// ZooKeeper create modes Kafka uses.
const (
	Persistent           CreateMode = zk.FlagPersistent
	Ephemeral            CreateMode = zk.FlagEphemeral
	PersistentSequential CreateMode = zk.FlagSequence
	EphemeralSequential  CreateMode = zk.FlagEphemeralSequential
)

// MatchAnyVersion is ZooKeeper's "-1": a write or delete that ignores the
// data version. As an epochZkVersion argument it means "not a controller
// write": no /controller_epoch check (Kafka's ZkVersion.MatchAnyVersion).
const MatchAnyVersion int32 = -1

// NoFencing is the epochZkVersion of writes that are not controller
// decisions (admin, broker registration, a leader's own ISR update).
const NoFencing = MatchAnyVersion

// openACL is OPEN_ACL_UNSAFE (zookeeper.set.acl=false, Kafka's default).
var openACL = zk.WorldACL(zk.PermAll)

// Get returns a znode's data (nil for null data) and stat.
func (c *Client) Get(path string) (data []byte, stat *Stat, err error) {
	err = c.do(func() error {
		data, stat, err = c.conn.Get(c.abs(path))
		return err
	})
	return data, stat, err
}

// Exists returns the znode's stat, or nil when it does not exist.
func (c *Client) Exists(path string) (*Stat, error) {
	var ok bool
	var stat *Stat
	err := c.do(func() (err error) {
		ok, stat, err = c.conn.Exists(c.abs(path))
		return err
	})
	if err != nil || !ok {
		return nil, err
	}
	return stat, nil
}

// Children returns the names of a znode's children (unsorted).
func (c *Client) Children(path string) (children []string, err error) {
	err = c.do(func() error {
		children, _, err = c.conn.Children(c.abs(path))
		return err
	})
	return children, err
}

// Create creates a znode and returns its path (with the sequence suffix for
// sequential modes).
func (c *Client) Create(path string, data []byte, mode CreateMode) (created string, err error) {
	err = c.do(func() error {
		created, err = c.conn.Create(c.abs(path), data, int32(mode), openACL)
		return err
	})
	return c.rel(created), err
}

// CreateRecursive creates a znode, first creating missing parents with null
// data (NODEEXISTS on a parent is fine), as Kafka's createRecursive does.
func (c *Client) CreateRecursive(path string, data []byte, mode CreateMode) (string, error) {
	created, err := c.Create(path, data, mode)
	if !errors.Is(err, zk.ErrNoNode) {
		return created, err
	}
	if err := c.createServerPath(c.abs(parentOf(path))); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return "", err
	}
	return c.Create(path, data, mode)
}

// createServerPath creates the server path p (chroot included) and its
// missing ancestors, persistent with null data.
func (c *Client) createServerPath(p string) error {
	if p == "/" || p == "" {
		return nil
	}
	create := func() error {
		_, err := c.conn.Create(p, nil, zk.FlagPersistent, openACL)
		return err
	}
	err := c.do(create)
	if !errors.Is(err, zk.ErrNoNode) {
		return err
	}
	if err := c.createServerPath(parentOf(p)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return err
	}
	return c.do(create)
}

// Set writes a znode's data if its version matches (MatchAnyVersion: any).
func (c *Client) Set(path string, data []byte, version int32) (stat *Stat, err error) {
	err = c.do(func() error {
		stat, err = c.conn.Set(c.abs(path), data, version)
		return err
	})
	return stat, err
}

// Delete removes a znode if its version matches (MatchAnyVersion: any).
func (c *Client) Delete(path string, version int32) error {
	return c.do(func() error { return c.conn.Delete(c.abs(path), version) })
}

// DeleteRecursive removes a znode and its subtree; a missing znode is not
// an error. With epochZkVersion >= 0 every delete is fenced.
func (c *Client) DeleteRecursive(epochZkVersion int32, path string) error {
	children, err := c.Children(path)
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, ch := range children {
		if err := c.DeleteRecursive(epochZkVersion, path+"/"+ch); err != nil {
			return err
		}
	}
	_, err = c.Write(epochZkVersion, DeleteOp(path, MatchAnyVersion))
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return err
}

type opKind int

const (
	opCreate opKind = iota
	opSetData
	opDelete
	opCheck
)

// Op is one operation of a multi (transaction).
type Op struct {
	kind    opKind
	path    string
	data    []byte
	version int32
	mode    CreateMode
}

// CreateOp creates path (mode Persistent, Ephemeral, ...).
func CreateOp(path string, data []byte, mode CreateMode) Op {
	return Op{kind: opCreate, path: path, data: data, mode: mode}
}

// SetDataOp writes path if its version matches.
func SetDataOp(path string, data []byte, version int32) Op {
	return Op{kind: opSetData, path: path, data: data, version: version}
}

// DeleteOp deletes path if its version matches.
func DeleteOp(path string, version int32) Op { return Op{kind: opDelete, path: path, version: version} }

// CheckOp fails the multi unless path's version matches.
func CheckOp(path string, version int32) Op { return Op{kind: opCheck, path: path, version: version} }

// Path returns the op's (chroot-relative) path.
func (o Op) Path() string { return o.path }

// OpResult is one op's outcome in a multi.
type OpResult struct {
	Path string // created path (CreateOp), chroot-relative
	Stat *Stat  // new stat (SetDataOp)
	Err  error  // nil, or the op's own error (ErrNodeExists, ErrBadVersion, ...)
}

func (c *Client) zkOp(o Op) any {
	p := c.abs(o.path)
	switch o.kind {
	case opCreate:
		return &zk.CreateRequest{Path: p, Data: o.data, Acl: openACL, Flags: int32(o.mode)}
	case opSetData:
		return &zk.SetDataRequest{Path: p, Data: o.data, Version: o.version}
	case opDelete:
		return &zk.DeleteRequest{Path: p, Version: o.version}
	default:
		return &zk.CheckVersionRequest{Path: p, Version: o.version}
	}
}

// Multi runs ops atomically: all succeed or none is applied. The error is
// the first failing op's error; results carry every op's own outcome.
func (c *Client) Multi(ops ...Op) ([]OpResult, error) {
	reqs := make([]any, len(ops))
	for i, o := range ops {
		reqs[i] = c.zkOp(o)
	}
	var res []zk.MultiResponse
	err := c.do(func() (err error) {
		res, err = c.conn.Multi(reqs...)
		return err
	})
	if len(res) == 0 {
		if err == nil {
			err = fmt.Errorf("multi: empty response for %d ops", len(ops))
		}
		return nil, err
	}
	out := make([]OpResult, len(res))
	for i, r := range res {
		out[i] = OpResult{Path: c.rel(r.String), Stat: r.Stat, Err: r.Error}
	}
	return out, err
}

// FencedMulti is Kafka's controller write: multi[check /controller_epoch
// version == epochZkVersion, ops...]. A failed check (BADVERSION or NONODE)
// means another controller was elected: ErrControllerMoved. Otherwise the
// results and error are those of ops alone, as if issued without the check.
// epochZkVersion NoFencing (-1) runs ops unfenced.
func (c *Client) FencedMulti(epochZkVersion int32, ops ...Op) ([]OpResult, error) {
	if epochZkVersion < 0 {
		return c.Multi(ops...)
	}
	all := append([]Op{CheckOp(ControllerEpochPath, epochZkVersion)}, ops...)
	res, err := c.Multi(all...)
	if len(res) == 0 {
		return nil, err
	}
	if cerr := res[0].Err; cerr != nil {
		if errors.Is(cerr, zk.ErrBadVersion) || errors.Is(cerr, zk.ErrNoNode) {
			return nil, fmt.Errorf("%w: /controller_epoch is no longer at version %d", ErrControllerMoved, epochZkVersion)
		}
		return nil, cerr
	}
	res = res[1:]
	for _, r := range res {
		if r.Err != nil {
			return res, r.Err
		}
	}
	return res, nil
}

// Write runs one op, fenced when epochZkVersion >= 0, and returns its
// result (Kafka's single requests wrapped by the controller epoch check).
func (c *Client) Write(epochZkVersion int32, op Op) (OpResult, error) {
	if epochZkVersion < 0 {
		return c.single(op)
	}
	res, err := c.FencedMulti(epochZkVersion, op)
	if len(res) == 0 {
		return OpResult{Err: err}, err
	}
	return res[0], err
}

func (c *Client) single(op Op) (OpResult, error) {
	var r OpResult
	var err error
	switch op.kind {
	case opCreate:
		r.Path, err = c.Create(op.path, op.data, op.mode)
	case opSetData:
		r.Stat, err = c.Set(op.path, op.data, op.version)
	case opDelete:
		err = c.Delete(op.path, op.version)
	default:
		_, err = c.Multi(op)
	}
	r.Err = err
	return r, err
}
