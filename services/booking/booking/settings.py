
from servicekit.settings import ServiceSettings, settings_loader

SERVICE = "booking"


class BookingSettings(ServiceSettings):
    pass


get_settings = settings_loader(BookingSettings, SERVICE)
