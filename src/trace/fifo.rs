//! FIFO lots: each address's holdings as an ordered queue of wholly tainted
//! or wholly clean lots. Only addresses that hold taint keep a queue; any
//! other address is one clean lot of its balance.

use ruint::aliases::U256;
use std::collections::VecDeque;

/// A lot: an amount, tainted or clean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lot {
    /// Units.
    pub amount: U256,
    /// Whether every unit is tainted.
    pub tainted: bool,
}

/// A queue of lots, oldest first; neighbours of equal taint are merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Queue {
    lots: VecDeque<Lot>,
}

impl Queue {
    /// Its lots, oldest first.
    pub fn lots(&self) -> Vec<Lot> {
        self.lots.iter().copied().collect()
    }

    /// A queue holding one lot.
    pub fn with(amount: U256, tainted: bool) -> Self {
        let mut q = Queue::default();
        q.push_back(Lot { amount, tainted });
        q
    }

    /// Append a lot.
    pub fn push_back(&mut self, lot: Lot) {
        if lot.amount.is_zero() {
            return;
        }
        match self.lots.back_mut() {
            Some(b) if b.tainted == lot.tainted => b.amount += lot.amount,
            _ => self.lots.push_back(lot),
        }
    }

    /// Put a lot in front (unknown-origin funds are older than every lot).
    pub fn push_front(&mut self, lot: Lot) {
        if lot.amount.is_zero() {
            return;
        }
        match self.lots.front_mut() {
            Some(f) if f.tainted == lot.tainted => f.amount += lot.amount,
            _ => self.lots.push_front(lot),
        }
    }

    /// Take the first `a` units; the caller has made sure they are there.
    pub fn take(&mut self, mut a: U256, out: &mut Vec<Lot>) {
        out.clear();
        while !a.is_zero() {
            let Some(front) = self.lots.front_mut() else { break };
            if front.amount <= a {
                a -= front.amount;
                out.push(*front);
                self.lots.pop_front();
            } else {
                front.amount -= a;
                out.push(Lot { amount: a, tainted: front.tainted });
                a = U256::ZERO;
            }
        }
    }

    /// Remove up to `a` clean units, the oldest first, leaving tainted lots
    /// where they are; returns how many were removed. (Under `--follow` a
    /// venue's own legs in a followed swap spend its clean units: the taint
    /// it held stays with it, TRACING.md §7.)
    pub fn take_clean(&mut self, mut a: U256) -> U256 {
        let mut removed = U256::ZERO;
        for l in self.lots.iter_mut() {
            if a.is_zero() {
                break;
            }
            if !l.tainted {
                let k = l.amount.min(a);
                l.amount -= k;
                a -= k;
                removed += k;
            }
        }
        self.lots.retain(|l| !l.amount.is_zero());
        // Lots of equal taint that became neighbours merge again.
        let old = std::mem::take(&mut self.lots);
        for l in old {
            self.push_back(l);
        }
        removed
    }

    /// Tainted units held.
    pub fn tainted(&self) -> U256 {
        self.lots.iter().filter(|l| l.tainted).fold(U256::ZERO, |s, l| s + l.amount)
    }

    /// Units held, tainted or clean.
    pub fn total(&self) -> U256 {
        self.lots.iter().fold(U256::ZERO, |s, l| s + l.amount)
    }

    /// Whether no tainted lot is left.
    pub fn is_clean(&self) -> bool {
        self.lots.iter().all(|l| !l.tainted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_from_the_front_in_order() {
        let u = |v: u64| U256::from(v);
        let mut q = Queue::with(u(5), false);
        q.push_back(Lot { amount: u(3), tainted: true });
        q.push_back(Lot { amount: u(4), tainted: false });
        q.push_front(Lot { amount: u(2), tainted: false });
        let mut out = Vec::new();
        q.take(u(9), &mut out);
        assert_eq!(out, vec![Lot { amount: u(7), tainted: false }, Lot { amount: u(2), tainted: true }]);
        assert_eq!(q.tainted(), u(1));
        q.take(u(5), &mut out);
        assert_eq!(out, vec![Lot { amount: u(1), tainted: true }, Lot { amount: u(4), tainted: false }]);
        assert!(q.is_clean());
    }
}
