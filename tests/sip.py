"""Real SIP peers for the tests (SIPp carrier/registrar/seat scenarios, RTP pcaps, baresip): the helpers
live in devstack/sipp.py, which `hotline bench sip` uses too."""
from devstack.sipp import *  # noqa: F401,F403
from devstack.sipp import (  # noqa: F401
                          BARESIP,
                          SIPP,
                          Baresip,
                          RtpStream,
                          Sipp,
                          alaw,
                          carrier_uac,
                          free_even_port,
                          free_port,
                          line_noise,
                          read_wav_8k,
                          refused_uac,
                          registered_contact,
                          registrar_uas,
                          seat_uas,
                          stat_last,
                          tone,
                          wait_until,
)
