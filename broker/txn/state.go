package txn

import (
	"fmt"
	"math"
)

// State is a transaction's state (Kafka 2.8's TransactionState); its byte is what __transaction_state stores.
//
//	Empty (0)             no transaction; InitProducerId bumps the epoch, AddPartitions starts one (-> Ongoing).
//	                      Exits: Ongoing, Empty (epoch bump), Dead (expiry).
//	Ongoing (1)           partitions added; AddPartitions adds more, EndTxn prepares, InitProducerId and the
//	                      timeout fence it. Exits: Ongoing, PrepareCommit, PrepareAbort, PrepareEpochFence.
//	PrepareCommit (2)     decided to commit, markers being written; requests get CONCURRENT_TRANSACTIONS
//	                      (EndTxn commit retried) or INVALID_TXN_STATE. Exit: CompleteCommit.
//	PrepareAbort (3)      the same for abort. Exit: CompleteAbort.
//	CompleteCommit (4)    markers written; like Empty for new work. Exits: Empty, Ongoing, Dead.
//	CompleteAbort (5)     the same after an abort.
//	Dead (6)              expired transactional id (tombstone written); never persisted as a value.
//	PrepareEpochFence (7) only ever pending: the epoch is bumped to fence the producer and the transaction
//	                      is aborted (-> PrepareAbort); never written to the log.
type State int8

const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func (s State) String() string {
	if s >= 0 && int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", int8(s))
}

// validPrevious is TransactionState.validPreviousStates (reference 06 §4.3).
var validPrevious = map[State][]State{
	Empty:             {Empty, CompleteCommit, CompleteAbort},
	Ongoing:           {Ongoing, Empty, CompleteCommit, CompleteAbort},
	PrepareCommit:     {Ongoing},
	PrepareAbort:      {Ongoing, PrepareEpochFence},
	CompleteCommit:    {PrepareCommit},
	CompleteAbort:     {PrepareAbort},
	Dead:              {Empty, CompleteAbort, CompleteCommit},
	PrepareEpochFence: {Ongoing},
}

// CanTransition reports whether to may follow from.
func CanTransition(from, to State) bool {
	for _, s := range validPrevious[to] {
		if s == from {
			return true
		}
	}
	return false
}

// stateFromByte parses a stored state byte.
func stateFromByte(b int8) (State, error) {
	if b < 0 || int(b) >= len(stateNames) {
		return 0, fmt.Errorf("%w: unknown transaction state %d", ErrMalformed, b)
	}
	return State(b), nil
}

// No producer id or epoch (RecordBatch.NO_PRODUCER_ID, NO_PRODUCER_EPOCH).
const (
	NoProducerID    int64 = -1
	NoProducerEpoch int16 = -1
)

// IsEpochExhausted is TransactionMetadata.isEpochExhausted: the producer's epoch may not reach
// Short.MaxValue, because fencing bumps it once more (the bumped epoch must still be a valid epoch).
func IsEpochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }
