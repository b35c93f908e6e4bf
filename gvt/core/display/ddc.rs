//! The monitor's DDC target (the EDID EEPROM at I2C address 0x50) as both GMBUS and
//! I2C-over-AUX reach it. Like upstream, one state serves both paths: a guest never interleaves
//! a GMBUS and an AUX transaction, and whichever starts a transaction resets the other's.

/// The I2C engine driving the DDC bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Source {
    /// Nobody.
    #[default]
    None,
    /// The GMBUS controller.
    Gmbus,
    /// I2C over the DP AUX channel.
    Aux,
}

/// The DDC target's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ddc {
    /// Who drives the bus.
    pub source: Source,
    /// The EDID address was selected.
    pub selected: bool,
    /// The bus reaches the monitor.
    pub available: bool,
    /// The EEPROM's address pointer.
    pub offset: u8,
}

impl Ddc {
    /// Back to idle.
    pub fn reset(&mut self) {
        *self = Ddc::default();
    }

    /// Reads the next byte of `edid`, the monitor's EDID (0xff, the idle bus, when the EDID
    /// is not being read, and past its end, as an absent extension reads).
    pub fn read(&mut self, edid: &[u8]) -> u8 {
        if !(self.selected && self.available) {
            return 0xff;
        }
        let b = edid.get(usize::from(self.offset)).copied().unwrap_or(0xff);
        self.offset = self.offset.wrapping_add(1);
        b
    }
}
