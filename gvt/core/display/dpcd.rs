//! The virtual sink's DPCD: DisplayPort 1.2, HBR2, four lanes with enhanced framing (upstream's
//! capabilities), one sink, and link training that succeeds at once: clock recovery when the
//! source sends pattern 1, channel equalization, symbol lock and inter-lane alignment with
//! pattern 2 or 3, "in sync" when training ends.
//!
//! Only the areas a source uses are kept (link configuration 0x100-0x10f, sink status and lane
//! status 0x200-0x207, power 0x600): 25 bytes instead of upstream's 1.75 KiB copy. Other
//! addresses read as zero and drop writes, which the DP spec allows for unsupported registers.

/// DPCD revision.
pub const DP_DPCD_REV: u32 = 0x000;
/// Link rate the source chose (0x06 RBR, 0x0a HBR, 0x14 HBR2).
pub const DP_LINK_BW_SET: u32 = 0x100;
/// Lane count the source chose (with enhanced framing in bit 7).
pub const DP_LANE_COUNT_SET: u32 = 0x101;
/// Training pattern the source sends (bits 1:0), scrambling and more above.
pub const DP_TRAINING_PATTERN_SET: u32 = 0x102;
/// Sink count.
pub const DP_SINK_COUNT: u32 = 0x200;
/// Lane 0 and 1 status.
pub const DP_LANE0_1_STATUS: u32 = 0x202;
/// Lane 2 and 3 status.
pub const DP_LANE2_3_STATUS: u32 = 0x203;
/// Inter-lane alignment.
pub const DP_LANE_ALIGN_STATUS_UPDATED: u32 = 0x204;
/// Receive port status.
pub const DP_SINK_STATUS: u32 = 0x205;
/// Sink power state.
pub const DP_SET_POWER: u32 = 0x600;
/// The end of the address range the sink answers (as upstream's `DPCD_SIZE`).
pub const DPCD_SIZE: u32 = 0x700;

/// Lane status, both lanes of a byte: clock recovery done.
pub const DP_LANES_CR_DONE: u8 = 0x11;
/// Lane status, both lanes: channel equalization done.
pub const DP_LANES_EQ_DONE: u8 = 0x22;
/// Lane status, both lanes: symbols locked.
pub const DP_LANES_SYMBOL_LOCKED: u8 = 0x44;
/// Inter-lane alignment done.
pub const DP_INTERLANE_ALIGN_DONE: u8 = 0x01;
/// Both receive ports in sync.
pub const DP_SINK_IN_SYNC: u8 = 0x03;

/// Receiver capabilities 0x000-0x00f: DPCD 1.2, HBR2, 4 lanes with enhanced framing.
const CAPS: [u8; 16] = [0x12, 0x14, 0x84, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

const LINK: u32 = 0x100;
const STATUS: u32 = 0x200;

/// The sink's DPCD state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dpcd {
    link: [u8; 16],
    status: [u8; 8],
    power: u8,
}

impl Default for Dpcd {
    fn default() -> Self {
        Self::new()
    }
}

impl Dpcd {
    /// A freshly plugged sink.
    pub const fn new() -> Dpcd {
        let mut status = [0u8; 8];
        status[0] = 1; // DP_SINK_COUNT
        Dpcd {
            link: [0; 16],
            status,
            power: 0,
        }
    }

    /// The byte at `addr`.
    pub fn read(&self, addr: u32) -> u8 {
        let at = |base: u32, a: &[u8]| {
            usize::try_from(addr.wrapping_sub(base))
                .ok()
                .and_then(|i| a.get(i))
                .copied()
        };
        match addr {
            0x000..=0x00f => at(0, &CAPS),
            0x100..=0x10f => at(LINK, &self.link),
            0x200..=0x207 => at(STATUS, &self.status),
            DP_SET_POWER => Some(self.power),
            _ => None,
        }
        .unwrap_or(0)
    }

    /// Writes the byte at `addr`; a write to the training pattern drives link training.
    pub fn write(&mut self, addr: u32, v: u8) {
        let slot = |base: u32, a: &mut [u8]| {
            if let Some(b) = usize::try_from(addr.wrapping_sub(base))
                .ok()
                .and_then(|i| a.get_mut(i))
            {
                *b = v;
            }
        };
        match addr {
            0x100..=0x10f => slot(LINK, &mut self.link),
            // Sink count and the lane status are the sink's; the IRQ vector is writable.
            0x201 => slot(STATUS, &mut self.status),
            DP_SET_POWER => self.power = v,
            _ => {}
        }
        if addr == DP_TRAINING_PATTERN_SET {
            self.train(v & 0x3);
        }
    }

    fn set_status(&mut self, addr: u32, v: u8) {
        if let Some(b) = usize::try_from(addr.wrapping_sub(STATUS))
            .ok()
            .and_then(|i| self.status.get_mut(i))
        {
            *b = v;
        }
    }

    fn train(&mut self, pattern: u8) {
        match pattern {
            1 => {
                // Training restarts: the sink loses the stream it was in sync with.
                self.set_status(DP_SINK_STATUS, 0);
                self.set_status(DP_LANE0_1_STATUS, DP_LANES_CR_DONE);
                self.set_status(DP_LANE2_3_STATUS, DP_LANES_CR_DONE);
                self.set_status(DP_LANE_ALIGN_STATUS_UPDATED, 0);
            }
            2 | 3 => {
                let all = DP_LANES_CR_DONE | DP_LANES_EQ_DONE | DP_LANES_SYMBOL_LOCKED;
                self.set_status(DP_LANE0_1_STATUS, all);
                self.set_status(DP_LANE2_3_STATUS, all);
                self.set_status(DP_LANE_ALIGN_STATUS_UPDATED, DP_INTERLANE_ALIGN_DONE);
            }
            _ => self.set_status(DP_SINK_STATUS, DP_SINK_IN_SYNC),
        }
    }

    /// The sink as firmware leaves it after training a link at DPCD rate code `bw` over
    /// `lanes` lanes (enhanced framing on): powered, every lane locked and aligned, in sync.
    pub fn set_trained(&mut self, bw: u8, lanes: u8) {
        self.write(DP_SET_POWER, 1);
        self.write(DP_LINK_BW_SET, bw);
        self.write(DP_LANE_COUNT_SET, lanes | 0x80);
        self.train(2);
        self.train(0);
    }

    /// The link symbol clock the source trained at, in kHz (0 before training).
    pub fn link_clock_khz(&self) -> u32 {
        u32::from(self.read(DP_LINK_BW_SET)).saturating_mul(27_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_and_training() {
        let mut d = Dpcd::new();
        assert_eq!(
            (d.read(0), d.read(1), d.read(2), d.read(DP_SINK_COUNT)),
            (0x12, 0x14, 0x84, 1)
        );
        d.write(DP_LINK_BW_SET, 0x14);
        assert_eq!(d.link_clock_khz(), 540_000);
        d.write(DP_TRAINING_PATTERN_SET, 0x21);
        assert_eq!(
            (d.read(0x202), d.read(0x203), d.read(0x204)),
            (0x11, 0x11, 0)
        );
        d.write(DP_TRAINING_PATTERN_SET, 0x22);
        assert_eq!(
            (d.read(0x202), d.read(0x203), d.read(0x204)),
            (0x77, 0x77, 1)
        );
        d.write(DP_TRAINING_PATTERN_SET, 0);
        assert_eq!(d.read(DP_SINK_STATUS), 3);
        // The sink's own status is not writable; unsupported addresses read zero.
        d.write(DP_SINK_COUNT, 9);
        d.write(0x3000, 9);
        assert_eq!(
            (d.read(DP_SINK_COUNT), d.read(0x3000), d.read(u32::MAX)),
            (1, 0, 0)
        );
        let mut lit = Dpcd::new();
        lit.set_trained(0x06, 4);
        assert_eq!(lit.link_clock_khz(), 162_000);
        assert_eq!(
            (
                lit.read(0x101),
                lit.read(0x202),
                lit.read(0x204),
                lit.read(0x205),
                lit.read(0x600)
            ),
            (0x84, 0x77, 1, 3, 1)
        );
    }
}
