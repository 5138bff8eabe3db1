package storage

import (
	"context"
	"errors"
	"math"
	"time"
)

// initialTaskDelay is Kafka's LogManager.InitialTaskDelayMs: periodic tasks first run 30 s after
// Start (or after one interval, if shorter).
const initialTaskDelay = 30 * time.Second

// Start runs the periodic tasks until ctx ends or Close: retention every
// log.retention.check.interval.ms (DeleteOldSegments below each log's HighWatermark), flush of
// logs whose flush.ms passed every log.flush.scheduler.interval.ms, the recovery-point and
// log-start checkpoints at their intervals, and the expiry of idle producers every
// producer.id.expiration.check.interval.ms. A second call does nothing.
func (m *Manager) Start(ctx context.Context) {
	m.taskMu.Lock()
	defer m.taskMu.Unlock()
	if m.cancel != nil || m.stopped {
		return
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.every(ctx, "retention", m.cfg.RetentionCheckIntervalMs, m.runRetention)
	m.every(ctx, "flush", m.cfg.FlushSchedulerIntervalMs, m.flushDirtyLogs)
	m.every(ctx, "recovery_point_checkpoint", m.cfg.FlushOffsetCheckpointIntervalMs, m.checkpointRecoveryPoints)
	m.every(ctx, "log_start_checkpoint", m.cfg.FlushStartOffsetCheckpointIntervalMs, m.checkpointLogStartOffsets)
	expiry := m.cfg.ProducerIDExpirationCheckIntervalMs
	if expiry == 0 {
		expiry = defaultProducerIDExpirationCheckIntervalMs
	}
	m.every(ctx, "producer_expiration", expiry, m.removeExpiredProducers)
	m.cleaner.start(ctx)
}

// stopTasks cancels the tasks and waits for them; later Starts do nothing.
func (m *Manager) stopTasks() {
	m.taskMu.Lock()
	m.stopped = true
	if m.cancel != nil {
		m.cancel()
	}
	m.taskMu.Unlock()
	m.wg.Wait()
}

// every starts a tracked goroutine running fn every intervalMs until ctx ends. Intervals <= 0 or
// too large for a time.Duration (Long.MaxValue: "never") start nothing.
func (m *Manager) every(ctx context.Context, name string, intervalMs int64, fn func() error) {
	if intervalMs <= 0 || intervalMs >= math.MaxInt64/int64(time.Millisecond) {
		return
	}
	interval := time.Duration(intervalMs) * time.Millisecond
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		t := time.NewTimer(min(interval, initialTaskDelay))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := fn(); err != nil {
				m.lg.WithError(err).WithField("task", name).Error("periodic log task failed")
			}
			t.Reset(interval)
		}
	}()
}

// runRetention is LogManager.cleanupLogs for the delete policy.
func (m *Manager) runRetention() error {
	now := m.clock()
	total := 0
	for _, ml := range m.snapshot() {
		n, err := ml.log.DeleteOldSegments(now, ml.log.HighWatermark())
		if err != nil {
			if !errors.Is(err, ErrLogClosed) { // deleted meanwhile
				m.lg.WithError(err).WithField("partition", ml.log.TopicPartition().String()).Warn("retention failed")
			}
			continue
		}
		total += n
	}
	if total > 0 {
		m.lg.WithField("segments", total).Info("log retention deleted segments")
	}
	return nil
}

// defaultProducerIDExpirationCheckIntervalMs is Kafka's producer.id.expiration.check.interval.ms
// (an internal setting, 10 minutes).
const defaultProducerIDExpirationCheckIntervalMs = 10 * 60 * 1000

// removeExpiredProducers is the producer-id-expiration task (Log.removeExpiredProducers per log).
func (m *Manager) removeExpiredProducers() error {
	now := m.clock()
	for _, ml := range m.snapshot() {
		ml.log.RemoveExpiredProducers(now)
	}
	return nil
}

// flushDirtyLogs is LogManager.flushDirtyLogs.
func (m *Manager) flushDirtyLogs() error {
	now := m.clock()
	for _, ml := range m.snapshot() {
		if err := ml.log.FlushIfDue(now); err != nil && !errors.Is(err, ErrLogClosed) {
			m.lg.WithError(err).WithField("partition", ml.log.TopicPartition().String()).Error("flush failed")
		}
	}
	return nil
}
