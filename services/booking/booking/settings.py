from servicekit.settings import ServiceSettings, settings_loader

SERVICE = "booking"


class BookingSettings(ServiceSettings):
    # The requests service, asked whether a child's dossier is complete before an enrolment
    # (booking.dossiers). The platform sets REQUESTS_URL for every service.
    requests_url: str = "http://127.0.0.1:8004"
    dossier_check_timeout_seconds: float = 5.0


get_settings = settings_loader(BookingSettings, SERVICE)
