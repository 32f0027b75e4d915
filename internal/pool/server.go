package pool

import (
	"holdfast/internal/rawconn"

	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the pooler: a listener and its pools.
type Server struct {
	// cfg is the config at start: what only a restart changes (listener,
	// TLS, login timeout, message size, reset query). dyn holds the rest,
	// swapped by Update (live.go).
	cfg     Config
	dyn     atomic.Pointer[live]
	log     *slog.Logger
	key     []byte // per-process key for dummy SCRAM verifiers
	started time.Time
	errs    errorCounts
	authq   authQueries

	ln      net.Listener
	ctx     context.Context
	stop    context.CancelFunc
	wg      sync.WaitGroup
	closeMu sync.Once

	nclients atomic.Int64

	mu      sync.Mutex
	pools   map[poolKey]*pool
	retired []*pool // pools replaced by a reload, until their clients leave
	clients map[*client]struct{}
	cancels map[cancelKey]*client
	paused  map[string]bool // databases paused or killed by the admin console
}

type cancelKey struct {
	pid    uint32
	secret uint32
}

// New validates cfg and builds a Server; nothing listens until Start.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg: cfg, log: log,
		key:   make([]byte, 32),
		pools: map[poolKey]*pool{}, clients: map[*client]struct{}{}, cancels: map[cancelKey]*client{},
		paused: map[string]bool{},
	}
	if _, err := rand.Read(s.key); err != nil {
		return nil, fmt.Errorf("pooler key: %w", err)
	}
	lv, err := newLive(cfg)
	if err != nil {
		return nil, err
	}
	s.dyn.Store(lv)
	return s, nil
}

// Start listens on cfg.Listen and serves until Close or ctx ends.
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("pooler listen %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.started = time.Now()
	s.ctx, s.stop = context.WithCancel(ctx)
	s.wg.Add(2)
	go s.acceptLoop()
	go s.maintainLoop()
	go func() {
		<-s.ctx.Done()
		_ = s.Close()
	}()
	s.log.Info("pooler listening", logKeyAddr, ln.Addr().String())
	return nil
}

// Addr is the address listened on (after Start).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops listening, disconnects clients and closes server
// connections. It is idempotent.
func (s *Server) Close() error {
	s.closeMu.Do(func() {
		if s.stop != nil {
			s.stop()
		}
		if s.ln != nil {
			_ = s.ln.Close()
		}
		s.mu.Lock()
		for c := range s.clients {
			_ = c.conn.Close()
		}
		pools := make([]*pool, 0, len(s.pools))
		for _, p := range s.pools {
			pools = append(pools, p)
		}
		s.mu.Unlock()
		for _, p := range pools {
			p.close()
		}
		s.authq.close()
	})
	s.wg.Wait()
	return nil
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("pooler accept", logKeyError, err)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(rawconn.Wrap(conn))
		}()
	}
}

// register gives c a fake BackendKeyData and makes it cancellable.
func (s *Server) register(c *client) error {
	var b [8]byte
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("backend key: %w", err)
		}
		k := cancelKey{binary.BigEndian.Uint32(b[:4]) & 0x7fffffff, binary.BigEndian.Uint32(b[4:])}
		if _, taken := s.cancels[k]; !taken && k.pid != 0 {
			c.mu.Lock()
			c.key = k
			c.mu.Unlock()
			s.cancels[k] = c
			return nil
		}
	}
}

func (s *Server) addClient(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() != nil {
		return false
	}
	s.clients[c] = struct{}{}
	return true
}

func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.clients, c)
	c.mu.Lock()
	key := c.key
	c.mu.Unlock()
	if key.pid != 0 {
		delete(s.cancels, key)
	}
}

// cancelFor forwards a CancelRequest to the server connection linked to
// the client holding key, if any.
func (s *Server) cancelFor(key cancelKey) {
	s.mu.Lock()
	c := s.cancels[key]
	s.mu.Unlock()
	if c == nil {
		return
	}
	// Holding c.mu keeps the link: the server connection cannot be
	// released to another client (whose query we would cancel) until the
	// request has been sent.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.server == nil {
		return
	}
	if err := c.server.cancel(s.cfg.ServerConnectTimeout); err != nil {
		s.log.Warn("pooler cancel", logKeyError, err)
	}
}

// dummyVerifier is a per-user verifier no password matches, so unknown
// users see the same exchange as known ones.
func (s *Server) dummyVerifier(user string) *scramVerifier {
	return &scramVerifier{
		iters:     scramIterations,
		salt:      hmacSum(s.key, []byte("salt:"+user))[:16],
		storedKey: hmacSum(s.key, []byte("stored:"+user)),
		serverKey: hmacSum(s.key, []byte("server:"+user)),
	}
}
