package webhook

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"scimd/store"
)

// Options configure a Dispatcher.
type Options struct {
	Endpoints []Endpoint
	// Render is a stored resource as GET returns it (the server's
	// renderer, with the server's external URL).
	Render func(k store.Kind, r *store.Resource) map[string]any
	// AppendStored, when set, appends a resource with its stored JSON in
	// Text as Render and scim.AppendJSON would write it, or returns false
	// (the server's AppendStoredAt); it spares decoding and encoding each
	// event, the larger part of a delivery's CPU time.
	AppendStored func(b []byte, k store.Kind, r *store.Resource) ([]byte, bool)
	Logger       *slog.Logger
	// Retention is how long events are kept once no endpoint needs them
	// ([events] retention); 0 is DefaultRetention.
	Retention time.Duration
	// RetryBase is the first backoff (DefaultRetryBase when 0); it doubles
	// per attempt up to MaxBackoff. Tests shorten it; the schedule's shape
	// stays the same.
	RetryBase time.Duration
}

// Tuning of the deliverer.
const (
	// window is how many pending deliveries, and how many new events, one
	// round looks at. Of the pending, each resource's earliest is
	// eligible; new events are sent in order per resource.
	window = 1000
	// conns is how many attempts run at once per endpoint.
	conns = 16
	// poll is how often the deliverer looks at the database for what the
	// admin commands changed (resume, retry, replay) and refreshes Stats.
	poll = time.Second
	// coalesceWait: a round that was not full starts at least this long
	// after the one before it.
	coalesceWait = 50 * time.Millisecond
	// pruneEvery is how often delivered events past retention are pruned.
	pruneEvery = time.Hour
)

// Stat is one endpoint's delivery state, cheap to read (for metrics:
// scimd_webhook_backlog_events, scimd_webhook_oldest_pending_seconds,
// scimd_webhook_delivered_events_total, scimd_webhook_failed_events_total).
type Stat struct {
	Name          string
	State         string // active, paused or failing
	Backlog       int64
	OldestPending time.Duration // age of the oldest undelivered event; 0 when none
	Delivered     int64         // all time
	Failed        int64         // all time
	LastSuccess   *time.Time
	LastError     string
	LastErrorAt   *time.Time
}

// StateOf names an endpoint's state as webhooks list shows it: paused
// after a 410 until resumed; failing when its last attempt failed (and no
// success came since); active otherwise.
func StateOf(w *store.WebhookState) string {
	switch {
	case w.Paused != nil:
		return "paused"
	case w.LastErrorAt != nil && (w.LastSuccess == nil || w.LastErrorAt.After(*w.LastSuccess)) && w.Backlog > 0:
		return "failing"
	}
	return "active"
}

// Dispatcher delivers the outbox to every configured endpoint.
type Dispatcher struct {
	st     *store.Store
	opt    Options
	log    *slog.Logger
	client *http.Client
	eps    []*runner
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// runner is one endpoint's delivery loop.
type runner struct {
	d    *Dispatcher
	ep   Endpoint
	wake chan struct{}
	// lean sends the attempts when the endpoint allows (conn.go); nil:
	// through d.client.
	lean *leanClient

	mu     sync.Mutex
	stat   Stat
	oldest *time.Time // the oldest undelivered event's time, for Stat.OldestPending
	// failing is whether the last round ended in errors, for logging
	// transitions rather than every failed attempt.
	failing bool
	// hold is when the endpoint may be tried again after a round in which
	// nothing got through (the receiver is down); zero when not held.
	hold time.Time
}

// New makes a dispatcher; Start runs it.
func New(st *store.Store, opt Options) *Dispatcher {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Retention <= 0 {
		opt.Retention = DefaultRetention
	}
	if opt.RetryBase <= 0 {
		opt.RetryBase = firstBackoff
	}
	d := &Dispatcher{st: st, opt: opt, log: opt.Logger, client: NewClient(conns)}
	for _, ep := range opt.Endpoints {
		if ep.MaxAge <= 0 {
			ep.MaxAge = DefaultMaxAge
		}
		ep.withMACs()
		r := &runner{d: d, ep: ep, wake: make(chan struct{}, 1), stat: Stat{Name: ep.Name, State: "active"}}
		r.lean = newLeanClient(&r.ep, conns)
		d.eps = append(d.eps, r)
	}
	return d
}

// Start sets the endpoints up in the database (before the server accepts
// writes, so no event committed from now on is missed) and starts
// delivering in the background until ctx ends or Stop is called.
func (d *Dispatcher) Start(ctx context.Context) error {
	names := d.names()
	if len(names) > 0 {
		if err := d.st.SetupWebhooks(ctx, names); err != nil {
			return err
		}
	}
	ctx, d.cancel = context.WithCancel(ctx)
	for _, r := range d.eps {
		// Read here, so Stats is filled before Start returns; run
		// starts from it rather than reading the state again.
		paused := r.refresh(ctx)
		d.wg.Go(func() { r.run(ctx, paused) })
	}
	d.wg.Go(func() { d.fanWake(ctx) })
	d.wg.Go(func() { d.prune(ctx) })
	return nil
}

// Stop ends delivery and waits for attempts in flight (at most Timeout).
// Events whose outcome was not recorded are sent again after a restart.
func (d *Dispatcher) Stop() {
	if d.cancel != nil {
		d.cancel()
	}
	d.wg.Wait()
	for _, r := range d.eps {
		if r.lean != nil {
			r.lean.close()
		}
	}
}

// Stats returns each endpoint's state as of its last round or poll (at
// most a second old); it never touches the database.
func (d *Dispatcher) Stats() []Stat {
	out := make([]Stat, 0, len(d.eps))
	for _, r := range d.eps {
		r.mu.Lock()
		s := r.stat
		if r.oldest != nil {
			s.OldestPending = time.Since(*r.oldest)
		}
		r.mu.Unlock()
		out = append(out, s)
	}
	return out
}

func (d *Dispatcher) names() []string {
	names := make([]string, 0, len(d.eps))
	for _, r := range d.eps {
		names = append(names, r.ep.Name)
	}
	return names
}

// fanWake passes the store's "events committed" signal to every endpoint.
func (d *Dispatcher) fanWake(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.st.OutboxReady():
			for _, r := range d.eps {
				select {
				case r.wake <- struct{}{}:
				default:
				}
			}
		}
	}
}

// prune deletes events past retention that no endpoint still needs, at
// start and then hourly.
func (d *Dispatcher) prune(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		n, err := d.st.PruneOutbox(ctx, time.Now().Add(-d.opt.Retention), d.names())
		if err != nil && ctx.Err() == nil {
			d.log.Warn("webhooks: pruning delivered events failed", "error", err)
		} else if n > 0 {
			d.log.Info("webhooks: pruned delivered events", "events", n, "retention", d.opt.Retention.String())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh reads the endpoint's state from the database into Stats.
func (r *runner) refresh(ctx context.Context) bool {
	w, err := r.d.st.WebhookStatus(ctx, r.ep.Name, r.ep.Events)
	if err != nil {
		if ctx.Err() == nil {
			r.d.log.Warn("webhooks: reading endpoint state failed", "webhook", r.ep.Name, "error", err)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.stat.State == "paused"
	}
	s := Stat{Name: r.ep.Name, State: StateOf(w), Backlog: w.Backlog, Delivered: w.Delivered, Failed: w.Failed,
		LastSuccess: w.LastSuccess, LastError: w.LastError, LastErrorAt: w.LastErrorAt}
	r.mu.Lock()
	r.stat, r.oldest = s, w.Oldest
	r.mu.Unlock()
	return w.Paused != nil
}

// run is the endpoint's loop: read the pending deliveries and the new
// events, send each resource's due ones concurrently, settle the outcomes
// and the cursor in one transaction, repeat; sleep when nothing is due.
// paused is the state refresh just read.
func (r *runner) run(ctx context.Context, paused bool) {
	last := time.Now()
	var started time.Time // when the last round started
	full := false         // the last round took a full window
	for ctx.Err() == nil {
		if time.Since(last) >= poll {
			paused = r.refresh(ctx)
			last = time.Now()
		}
		if paused {
			r.sleep(ctx, time.Now().Add(poll))
			continue
		}
		if at := started.Add(coalesceWait); !full && time.Now().Before(at) {
			// Let commits gather: each round has a fixed cost (a writer
			// transaction, two reads), which at a steady trickle of writes
			// would otherwise be paid every few events. An event after a
			// quiet spell goes at once; in a burst, events wait at most
			// coalesceWait, which is nothing to a receiver.
			t := time.NewTimer(time.Until(at))
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if now := time.Now(); now.Before(r.hold) {
			r.sleep(ctx, minTime(r.hold, now.Add(poll)))
			continue
		}
		pending, err := r.d.st.PendingDeliveries(ctx, r.ep.Name, window)
		var fresh []*store.OutboxEvent
		var hi int64
		if err == nil && len(pending) < window {
			// Every pending delivery is in hand, so it is known which
			// resources have one; with a full window the pending drain
			// first.
			fresh, hi, err = r.d.st.NewEvents(ctx, r.ep.Name, r.ep.Events, window)
		}
		now := time.Now()
		due, next := heads(pending, now)
		var dueEvents map[int64]*store.OutboxEvent
		if err == nil && len(due) > 0 {
			seqs := make([]int64, len(due))
			for i, p := range due {
				seqs[i] = p.Seq
			}
			dueEvents, err = r.d.st.OutboxEvents(ctx, seqs)
		}
		if err != nil {
			if ctx.Err() == nil {
				r.d.log.Warn("webhooks: reading pending or new events failed", "webhook", r.ep.Name, "error", err)
			}
			r.sleep(ctx, time.Now().Add(poll))
			continue
		}
		if len(due) == 0 && hi == 0 {
			wake := now.Add(poll)
			if !next.IsZero() && next.Before(wake) {
				wake = next
			}
			r.sleep(ctx, wake)
			continue
		}
		started = now
		done, cursor := r.round(ctx, pending, due, dueEvents, fresh, hi)
		// Settled even when stopping: what was delivered must not be sent
		// again after the restart.
		if err := r.d.st.Settle(context.WithoutCancel(ctx), r.ep.Name, done, cursor); err != nil {
			r.d.log.Warn("webhooks: recording deliveries failed; they will be sent again", "webhook", r.ep.Name, "error", err)
			r.sleep(ctx, time.Now().Add(poll))
			continue
		}
		for _, res := range done {
			if res.Gone {
				paused = r.refresh(ctx)
				break
			}
		}
		full = len(pending) >= window || len(fresh) >= window
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// heads picks, in commit order, each resource's earliest pending delivery,
// and of those the ones due now; next is the earliest time a head not yet
// due becomes due. A resource whose earliest event waits in backoff holds
// its later events back: events of one resource arrive in commit order.
func heads(pending []store.Delivery, now time.Time) (due []store.Delivery, next time.Time) {
	seen := make(map[string]bool, len(pending))
	for _, p := range pending {
		if seen[p.ResourceID] {
			continue
		}
		seen[p.ResourceID] = true
		if p.NextAt.IsZero() || !p.NextAt.After(now) {
			due = append(due, p)
		} else if next.IsZero() || p.NextAt.Before(next) {
			next = p.NextAt
		}
	}
	return due, next
}

func (r *runner) sleep(ctx context.Context, until time.Time) {
	t := time.NewTimer(time.Until(until))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-r.wake:
	case <-t.C:
	}
}

// job is the work of one resource in a round: the retry of its earliest
// pending delivery, or its new events in commit order.
type job struct {
	head  *store.Delivery
	ev    *store.OutboxEvent // head's event
	chain []*store.OutboxEvent
}

// round sends, conns at a time, the due pending deliveries (their events
// in dueEvents) and the new events (hi is the highest seq NewEvents looked
// at), and returns the outcomes for the caller to settle and how far the
// cursor may move: past every new event that was delivered or has an
// outcome here. A new event of a resource with a pending delivery is not
// tried: it gets a row behind that delivery, so the resource's events keep
// their order.
func (r *runner) round(ctx context.Context, pending, due []store.Delivery, dueEvents map[int64]*store.OutboxEvent, fresh []*store.OutboxEvent, hi int64) ([]store.DeliveryResult, int64) {
	var jobs []job
	for i := range due {
		if ev := dueEvents[due[i].Seq]; ev != nil { // nil: pruned meanwhile, nothing to send
			jobs = append(jobs, job{head: &due[i], ev: ev})
		}
	}
	var out []store.DeliveryResult
	if len(fresh) > 0 {
		waiting := make(map[string]bool, len(pending))
		for _, p := range pending {
			waiting[p.ResourceID] = true
		}
		chains := make(map[string]int, len(fresh))
		for _, ev := range fresh {
			if waiting[ev.ResourceID] {
				out = append(out, queued(ev))
				continue
			}
			if i, ok := chains[ev.ResourceID]; ok {
				jobs[i].chain = append(jobs[i].chain, ev)
				continue
			}
			chains[ev.ResourceID] = len(jobs)
			jobs = append(jobs, job{chain: []*store.OutboxEvent{ev}})
		}
	}
	results := make([][]store.DeliveryResult, len(jobs))
	untried := make([]int64, len(jobs)) // the first new event of each job not tried; 0: none
	// conns workers for the round, rather than a goroutine per job, each
	// of which would grow its stack again for the send.
	work := make(chan int)
	var (
		wg       sync.WaitGroup
		ok, fail atomic.Int64
	)
	for range min(conns, len(jobs)) {
		wg.Go(func() {
			for i := range work {
				results[i], untried[i] = r.runJob(ctx, jobs[i], &ok, &fail)
			}
		})
	}
	for i := range jobs {
		if fail.Load() >= conns && ok.Load() == 0 {
			// The receiver is down, not one event bad: stop here. The
			// rest wait for the endpoint's hold (below) instead of each
			// costing an attempt (up to 10 s when it does not answer).
			for k := i; k < len(jobs); k++ {
				if len(jobs[k].chain) > 0 {
					untried[k] = jobs[k].chain[0].Seq
				}
			}
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	cursor := hi
	for _, u := range untried {
		if u != 0 && u-1 < cursor {
			cursor = u - 1
		}
	}
	for _, rs := range results {
		out = append(out, rs...)
	}
	tried, failed := 0, 0
	gone := false
	var hold time.Time
	for _, res := range out {
		if res.Attempts == 0 && !res.Gone {
			continue // queued, not tried
		}
		tried++
		gone = gone || res.Gone
		if !res.Delivered {
			failed++
			if !res.Failed && !res.Gone && (hold.IsZero() || res.NextAt.Before(hold)) {
				hold = res.NextAt
			}
		}
	}
	if ok.Load() == 0 && fail.Load() > 0 {
		// Nothing got through: hold the whole endpoint until the earliest
		// retry, so events not tried in this round follow the backoff too.
		r.hold = hold
	}
	r.logTransition(out, tried, failed, gone)
	return out, cursor
}

// queued is the outcome of a new event that was not tried: a delivery row,
// due now, behind its resource's earlier pending ones.
func queued(ev *store.OutboxEvent) store.DeliveryResult {
	return store.DeliveryResult{Seq: ev.Seq, New: true, ResourceID: ev.ResourceID, Since: ev.Time}
}

// runJob makes one job's attempts. A chain stops at its first event not
// delivered; the events after it are queued behind it. untried is the
// first event of the chain that was not tried because the round was
// stopped (ctx), 0 when none.
func (r *runner) runJob(ctx context.Context, j job, ok, fail *atomic.Int64) (out []store.DeliveryResult, untried int64) {
	count := func(res store.DeliveryResult) {
		if res.Delivered {
			ok.Add(1)
		} else if res.Seq != 0 {
			fail.Add(1)
		}
	}
	if j.head != nil {
		res := r.attempt(ctx, *j.head, j.ev)
		count(res)
		if res.Seq == 0 {
			return nil, 0 // stopping: not recorded
		}
		return []store.DeliveryResult{res}, 0
	}
	for i, ev := range j.chain {
		res := r.attempt(ctx, store.Delivery{Seq: ev.Seq, ResourceID: ev.ResourceID, Since: ev.Time}, ev)
		if res.Seq == 0 {
			return out, ev.Seq // stopping
		}
		count(res)
		res.New, res.ResourceID = true, ev.ResourceID
		out = append(out, res)
		if !res.Delivered {
			for _, later := range j.chain[i+1:] {
				out = append(out, queued(later))
			}
			break
		}
	}
	return out, 0
}

// logTransition logs when an endpoint starts failing, recovers or is
// paused, and every event given up on; not every failed attempt, which
// for a receiver that is down would flood the log.
func (r *runner) logTransition(out []store.DeliveryResult, tried, failed int, gone bool) {
	var lastErr string
	for _, res := range out {
		if res.Failed {
			r.d.log.Error("webhooks: event failed: not delivered within max_age", "webhook", r.ep.Name, "seq", res.Seq,
				"attempts", res.Attempts, "max_age", r.ep.MaxAge.String(), "error", res.Error)
		}
		if res.Error != "" {
			lastErr = res.Error
		}
	}
	switch {
	case gone:
		r.d.log.Warn("webhooks: the receiver answered 410 Gone: endpoint paused until 'scimd webhooks resume "+r.ep.Name+"'", "webhook", r.ep.Name)
	case failed > 0 && failed == tried && !r.failing:
		r.failing = true
		r.d.log.Warn("webhooks: delivery failing; retrying with backoff", "webhook", r.ep.Name, "error", lastErr)
	case failed < tried && r.failing:
		r.failing = false
		r.d.log.Info("webhooks: delivery recovered", "webhook", r.ep.Name)
	}
}

// attempt sends one event and decides what happens next.
func (r *runner) attempt(ctx context.Context, p store.Delivery, ev *store.OutboxEvent) store.DeliveryResult {
	res := store.DeliveryResult{Seq: p.Seq, Since: p.Since, Attempts: p.Attempts + 1}
	body, err := r.body(ev)
	if err != nil {
		// A stored event that cannot be rendered will not improve: fail it.
		res.Failed, res.Error = true, "the event could not be rendered: "+err.Error()
		return res
	}
	now := time.Now()
	var a Answer
	if r.lean != nil {
		a = r.lean.send(ctx, ev.MsgID, body, now)
	} else {
		a = Send(ctx, r.d.client, &r.ep, ev.MsgID, body, now)
	}
	if a.OK() {
		res.Delivered = true
		return res
	}
	if ctx.Err() != nil {
		// Stopping: this attempt does not count and is not recorded; the
		// event stays pending and is sent after the restart.
		return store.DeliveryResult{}
	}
	res.Error = a.Err
	if a.Status == http.StatusGone {
		// Standard Webhooks: 410 means the receiver wants no more; pause
		// the endpoint and keep the event for when it is resumed.
		res.Gone = true
		res.Attempts = p.Attempts
		res.NextAt = now
		return res
	}
	deadline := p.Since.Add(r.ep.MaxAge)
	wait := backoff(r.d.opt.RetryBase, res.Attempts)
	if a.RetryAfter > wait {
		wait = a.RetryAfter
	}
	res.NextAt = now.Add(wait)
	if !now.Before(deadline) {
		res.Failed = true
	} else if res.NextAt.After(deadline) {
		// One last attempt at the deadline.
		res.NextAt = deadline
	}
	return res
}

// backoff is the wait after the n-th failed attempt: base doubled n-1
// times, capped at MaxBackoff, with ±25% jitter so that many events failing
// together do not retry in lockstep.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, MaxBackoff)
	j := time.Duration(float64(d) * (0.75 + 0.5*rand.Float64()))
	return min(j, MaxBackoff)
}

// body renders an event's JSON body.
func (r *runner) body(ev *store.OutboxEvent) ([]byte, error) {
	if b, ok := StoredBody(ev, r.d.opt.AppendStored); ok {
		return b, nil
	}
	return EventBody(ev, r.d.opt.Render)
}
