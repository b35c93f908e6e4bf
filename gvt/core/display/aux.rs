//! The DP AUX channels. A guest writes a request into DP_AUX_CH_DATA1-5 (bytes most significant
//! first), then DP_AUX_CH_CTL with SEND_BUSY and the request's size; the reply is in place when
//! it next reads the control register: SEND_BUSY clear, DONE set, the reply's size in
//! MESSAGE_SIZE, and the AUX interrupt if it asked for one. Only the monitor's channel has a
//! sink; the others time out as an unconnected port does.
//!
//! Requests: native DPCD reads and writes of up to 16 bytes, and I2C-over-AUX to the EDID at
//! 0x50 (address-only start and stop, a one-byte offset write, reads of up to 16 bytes; other
//! I2C addresses are NACKed). Malformed requests (size 0 or over 20 bytes, a length byte that
//! disagrees with the size, more than 16 data bytes) get a native NACK or a receive error;
//! nothing a guest writes can make the emulation index out of its buffers.

use super::super::hw::Platform;
use super::super::irq::Event;
use super::super::num::u32_as_usize;
use super::ddc::Source;
use super::dpcd::DPCD_SIZE;
use super::edid::EDID_ADDR;
use super::regs::*;
use super::{monitor_port, Display, Regs};

/// Bytes in the five data registers.
const AUX_BURST: usize = 20;
/// Most data bytes in one AUX transaction.
const AUX_MAX_DATA: usize = 16;

/// Request command: native write.
const AUX_NATIVE_WRITE: u8 = 0x8;
/// Request command: native read.
const AUX_NATIVE_READ: u8 = 0x9;
/// Request command bit: I2C middle-of-transaction (no stop after this request).
const AUX_I2C_MOT: u8 = 0x4;
/// Request command: I2C read.
const AUX_I2C_READ: u8 = 0x1;
/// Request command: I2C write-status-update.
const AUX_I2C_WRITE_STATUS_UPDATE: u8 = 0x2;

/// Reply: native and I2C ACK.
const AUX_REPLY_ACK: u8 = 0x00;
/// Reply: native NACK.
const AUX_NATIVE_REPLY_NACK: u8 = 0x10;
/// Reply: I2C NACK (native ACK).
const AUX_I2C_REPLY_NACK: u8 = 0x40;

/// The outcome of one request.
enum Reply {
    /// A reply of `len` bytes.
    Bytes([u8; AUX_BURST], usize),
    /// Nothing came back.
    Timeout,
    /// The request could not be parsed.
    ReceiveError,
}

fn one(b: u8) -> Reply {
    let mut r = [0u8; AUX_BURST];
    r[0] = b;
    Reply::Bytes(r, 1)
}

/// Emulates a write to DP_AUX_CH_CTL of any channel, or to its data registers, for a monitor
/// whose EDID is `edid`; returns whether the AUX interrupt latched.
pub fn ctl_write(
    d: &mut Display,
    regs: &mut Regs<'_>,
    platform: Platform,
    edid: &[u8],
    off: u32,
    v: u32,
) -> bool {
    let ch = (off.wrapping_sub(DP_AUX_CH_CTL::OFFSET) >> 8) & 0xf;
    let c = DP_AUX_CH_CTL(v);
    if !c.is_set(DP_AUX_CH_CTL::DP_AUX_CH_CTL_SEND_BUSY) {
        // Clearing the sticky status bits (write 1 to clear) between transactions.
        let sticky = DP_AUX_CH_CTL::DP_AUX_CH_CTL_DONE.mask()
            | DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR.mask()
            | DP_AUX_CH_CTL::DP_AUX_CH_CTL_RECEIVE_ERROR.mask();
        let old = regs.get(off);
        regs.set(off, (v & !sticky) | (old & sticky & !v));
        return false;
    }
    let size = u32_as_usize(c.get(DP_AUX_CH_CTL::DP_AUX_CH_CTL_MESSAGE_SIZE_MASK));
    let mut req = [0u8; AUX_BURST];
    for (i, chunk) in (0u32..).zip(req.chunks_mut(4)) {
        let r = regs.get(off.wrapping_add(4).wrapping_add(i.wrapping_mul(4)));
        chunk.copy_from_slice(&r.to_be_bytes());
    }
    let reply = if ch != monitor_port(platform) || !d.connected {
        Reply::Timeout
    } else if size == 0 || size > AUX_BURST {
        Reply::ReceiveError
    } else {
        transact(d, edid, req.get(..size).unwrap_or(&[]))
    };
    if matches!(reply, Reply::ReceiveError)
        || matches!(reply, Reply::Bytes(r, _) if r[0] == AUX_NATIVE_REPLY_NACK)
    {
        d.stats.bad_aux = d.stats.bad_aux.saturating_add(1);
    }
    let status = DP_AUX_CH_CTL::DP_AUX_CH_CTL_SEND_BUSY.mask()
        | DP_AUX_CH_CTL::DP_AUX_CH_CTL_DONE.mask()
        | DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR.mask()
        | DP_AUX_CH_CTL::DP_AUX_CH_CTL_RECEIVE_ERROR.mask()
        | DP_AUX_CH_CTL::DP_AUX_CH_CTL_MESSAGE_SIZE_MASK.mask();
    let mut ctl = DP_AUX_CH_CTL((v & !status) | DP_AUX_CH_CTL::DP_AUX_CH_CTL_DONE.mask());
    match reply {
        Reply::Bytes(bytes, len) => {
            for (i, chunk) in (0u32..).zip(bytes.chunks(4)) {
                let mut w = [0u8; 4];
                w.copy_from_slice(chunk);
                regs.set(
                    off.wrapping_add(4).wrapping_add(i.wrapping_mul(4)),
                    u32::from_be_bytes(w),
                );
            }
            let len = u32::try_from(len).unwrap_or(0);
            ctl = ctl.with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_MESSAGE_SIZE_MASK, len);
        }
        Reply::Timeout => ctl = ctl.with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_TIME_OUT_ERROR, 1),
        Reply::ReceiveError => ctl = ctl.with(DP_AUX_CH_CTL::DP_AUX_CH_CTL_RECEIVE_ERROR, 1),
    }
    regs.set(off, ctl.0);
    if !c.is_set(DP_AUX_CH_CTL::DP_AUX_CH_CTL_INTERRUPT) {
        return false;
    }
    let e = match ch {
        0 => Event::AuxChannelA,
        1 => Event::AuxChannelB,
        2 => Event::AuxChannelC,
        _ => Event::AuxChannelD,
    };
    regs.raise(e)
}

/// Runs one request of `req.len()` bytes (1-20) against the sink.
fn transact(d: &mut Display, edid: &[u8], req: &[u8]) -> Reply {
    let [b0, b1, b2, rest @ ..] = req else {
        return Reply::ReceiveError;
    };
    let cmd = b0 >> 4;
    let addr = (u32::from(b0 & 0xf) << 16) | (u32::from(*b1) << 8) | u32::from(*b2);
    let count = rest.first().map(|&l| usize::from(l).saturating_add(1));
    let data = rest.get(1..).unwrap_or(&[]);
    if cmd & 0x8 != 0 {
        return native(d, cmd, addr, count, data);
    }
    i2c(d, edid, cmd, addr, count, data)
}

fn native(d: &mut Display, cmd: u8, addr: u32, count: Option<usize>, data: &[u8]) -> Reply {
    let Some(n) = count.filter(|&n| n <= AUX_MAX_DATA) else {
        return one(AUX_NATIVE_REPLY_NACK);
    };
    let n32 = u32::try_from(n).unwrap_or(u32::MAX);
    let end = addr.saturating_add(n32);
    match cmd {
        AUX_NATIVE_READ if data.is_empty() => {
            let mut r = [0u8; AUX_BURST];
            // Beyond the sink's range the DP spec wants zeros, acknowledged.
            for (i, b) in (0u32..).zip(r.iter_mut().skip(1).take(n)) {
                let a = addr.wrapping_add(i);
                *b = if a < DPCD_SIZE { d.dpcd.read(a) } else { 0 };
            }
            Reply::Bytes(r, n.saturating_add(1))
        }
        AUX_NATIVE_WRITE if data.len() == n => {
            if end > DPCD_SIZE {
                let mut r = [0u8; AUX_BURST];
                r[0] = AUX_NATIVE_REPLY_NACK;
                return Reply::Bytes(r, 2);
            }
            for (i, &b) in (0u32..).zip(data) {
                d.dpcd.write(addr.wrapping_add(i), b);
            }
            one(AUX_REPLY_ACK)
        }
        _ => one(AUX_NATIVE_REPLY_NACK),
    }
}

fn i2c(
    d: &mut Display,
    edid: &[u8],
    cmd: u8,
    addr: u32,
    count: Option<usize>,
    data: &[u8],
) -> Reply {
    let mot = cmd & AUX_I2C_MOT != 0;
    let target = addr == u32::from(EDID_ADDR);
    let ddc = &mut d.ddc;
    if ddc.source != Source::Aux {
        ddc.reset();
        ddc.source = Source::Aux;
    }
    let reply = match count {
        // Address only: a start (or restart) when MOT is set, a stop otherwise.
        None => {
            if mot && target {
                ddc.selected = true;
                ddc.available = true;
            }
            if target || !mot {
                one(AUX_REPLY_ACK)
            } else {
                one(AUX_I2C_REPLY_NACK)
            }
        }
        Some(n) if n > AUX_MAX_DATA || !target => one(AUX_I2C_REPLY_NACK),
        Some(n) => match cmd & 0x3 {
            AUX_I2C_READ if data.is_empty() => {
                ddc.selected = true;
                ddc.available = true;
                let mut r = [0u8; AUX_BURST];
                for b in r.iter_mut().skip(1).take(n) {
                    *b = ddc.read(edid);
                }
                Reply::Bytes(r, n.saturating_add(1))
            }
            AUX_I2C_WRITE_STATUS_UPDATE => one(AUX_REPLY_ACK),
            0 if data.len() == n => {
                // The EEPROM takes the first byte as its address pointer and ignores the rest.
                ddc.selected = true;
                ddc.available = true;
                if let Some(&o) = data.first() {
                    ddc.offset = o;
                }
                one(AUX_REPLY_ACK)
            }
            _ => one(AUX_I2C_REPLY_NACK),
        },
    };
    if !mot {
        d.ddc.reset();
    }
    reply
}
