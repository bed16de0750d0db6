"""The layout of an organisation workbook: five sheets, their columns and the
Indonesian names people may use for them. Import, export and the template share it."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Column:
    name: str
    help: Promise
    example: Any = ""
    required: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class SheetSpec:
    name: str
    help: Promise
    columns: tuple[Column, ...]
    aliases: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [column.name for column in self.columns if column.required]

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    def canonical_column(self, header: str) -> str | None:
        """The column a header means (case, spaces and Indonesian names allowed)."""
        key = normalise_name(header)
        for column in self.columns:
            if key == column.name or key in column.aliases:
                return column.name
        return None


def normalise_name(text: Any) -> str:
    """'Tanggal Mulai (dd/mm/yyyy)*' -> 'tanggal_mulai'."""
    value = str(text or "").strip().lower()
    value = re.sub(r"\(.*?\)", "", value)
    value = re.sub(r"[^0-9a-z]+", "_", value)
    return value.strip("_")


UNITS = SheetSpec(
    name="units",
    help=_(
        "Internal units (they nest under a parent unit) and external partners "
        "(forwarders, suppliers, customers). One row per unit or partner."
    ),
    aliases=("unit", "unit_kerja", "parties", "pihak"),
    columns=(
        Column(
            "code",
            _(
                "Short unique code of the unit, e.g. KEU. The key: a row with a code "
                "that exists already updates that unit."
            ),
            "KEU",
            required=True,
            aliases=("kode", "kode_unit", "unit_code"),
        ),
        Column(
            "name",
            _("Name of the unit or partner."),
            "Bagian Keuangan",
            required=True,
            aliases=("nama", "nama_unit", "unit", "unit_name"),
        ),
        Column(
            "parent_code",
            _(
                "Code of the unit it sits under (empty for a top unit). Only internal "
                "units nest."
            ),
            "",
            aliases=("parent", "induk", "kode_induk", "unit_induk", "parent_unit"),
        ),
        Column(
            "kind",
            _(
                "internal_unit (unit internal) or external_partner (mitra eksternal). "
                "Empty means internal unit."
            ),
            "unit internal",
            aliases=("jenis", "type", "tipe", "jenis_pihak"),
        ),
        Column(
            "description",
            _("What the unit does (optional)."),
            "Mengelola anggaran dan laporan keuangan perusahaan.",
            aliases=("deskripsi", "keterangan", "uraian"),
        ),
        Column(
            "head_position_code",
            _(
                "Code of the position that heads the unit (optional; it must belong to "
                "this unit)."
            ),
            "KEU-KA",
            aliases=(
                "head_position",
                "kepala",
                "jabatan_kepala",
                "kode_jabatan_kepala",
            ),
        ),
    ),
)

POSITIONS = SheetSpec(
    name="positions",
    help=_("Positions (jabatan) in the units and partners, with their superior."),
    aliases=("position", "jabatan"),
    columns=(
        Column(
            "code",
            _(
                "Short unique code of the position, e.g. KEU-KA. The key: a row with a "
                "code that exists already updates that position."
            ),
            "KEU-KA",
            required=True,
            aliases=("kode", "kode_jabatan", "position_code"),
        ),
        Column(
            "title",
            _("Title of the position."),
            "Kepala Bagian Keuangan",
            required=True,
            aliases=("name", "nama", "jabatan", "nama_jabatan"),
        ),
        Column(
            "unit_code",
            _("Code of the unit or partner the position belongs to."),
            "KEU",
            required=True,
            aliases=("unit", "kode_unit", "unit_kerja", "party", "party_code"),
        ),
        Column(
            "superior_code",
            _("Code of the superior position (empty for none)."),
            "",
            aliases=("superior", "atasan", "kode_atasan", "jabatan_atasan"),
        ),
        Column(
            "max_holders",
            _(
                "How many people may hold the position at once (a whole number, 1 if "
                "empty). Acting holders (Plt) come on top."
            ),
            1,
            aliases=("jumlah_pemangku", "kapasitas", "maks_pemangku", "formasi"),
        ),
        Column(
            "job_description",
            _("Job description (uraian jabatan), optional."),
            "Memimpin pengelolaan keuangan dan menyetujui pembayaran.",
            aliases=(
                "job_summary",
                "uraian_jabatan",
                "ikhtisar_jabatan",
                "deskripsi",
                "description",
            ),
        ),
    ),
)

DUTIES = SheetSpec(
    name="duties",
    help=_(
        "Duties (tugas jabatan) of each position. A duty is found again by its "
        "position and its text; a new text adds a duty."
    ),
    aliases=("duty", "tugas", "tugas_jabatan"),
    columns=(
        Column(
            "position_code",
            _("Code of the position the duty belongs to."),
            "KEU-KA",
            required=True,
            aliases=("position", "jabatan", "kode_jabatan"),
        ),
        Column(
            "duty",
            _("The duty, e.g. 'Prepare the monthly financial report'."),
            "Menyusun laporan keuangan bulanan",
            required=True,
            aliases=("title", "tugas", "uraian_tugas", "nama_tugas"),
        ),
        Column(
            "output_unit",
            _("Unit of its output (satuan hasil), e.g. report, document, shipment."),
            "laporan",
            required=True,
            aliases=("satuan_hasil", "satuan", "output"),
        ),
        Column(
            "description",
            _("More about the duty (optional)."),
            "",
            aliases=("deskripsi", "keterangan"),
        ),
    ),
)

PEOPLE = SheetSpec(
    name="people",
    help=_(
        "People of the organisation and staff of partners. A person is found again "
        "by employee number, or by full name when there is no number."
    ),
    aliases=("person", "persons", "pegawai", "orang"),
    columns=(
        Column(
            "employee_number",
            _("Employee number (NIP), unique in the organisation; optional."),
            "198703152010011001",
            aliases=(
                "nip",
                "nomor_pegawai",
                "no_pegawai",
                "nomor_induk_pegawai",
                "employee_no",
            ),
        ),
        Column(
            "full_name",
            _("Full name."),
            "Siti Rahayu",
            required=True,
            aliases=("name", "nama", "nama_lengkap"),
        ),
        Column(
            "email",
            _("E-mail address (optional)."),
            "siti.rahayu@contoh.co.id",
            aliases=("e_mail", "surel", "alamat_email"),
        ),
        Column(
            "party_code",
            _("For staff of an external partner: the partner's code. Empty otherwise."),
            "",
            aliases=("partner_code", "party", "mitra", "kode_mitra", "pihak"),
        ),
    ),
)

HOLDERS = SheetSpec(
    name="holders",
    help=_(
        "Who holds which position from when until when. A holding is found again by "
        "position, person and start date."
    ),
    aliases=("holder", "holdings", "pemangku", "pemangku_jabatan", "pejabat"),
    columns=(
        Column(
            "position_code",
            _("Code of the position."),
            "KEU-KA",
            required=True,
            aliases=("position", "jabatan", "kode_jabatan"),
        ),
        Column(
            "employee_number",
            _(
                "Employee number of the holder; or leave it empty and give the full name."
            ),
            "198703152010011001",
            aliases=("nip", "nomor_pegawai", "no_pegawai", "nomor_induk_pegawai"),
        ),
        Column(
            "full_name",
            _("Full name of the holder (used when there is no employee number)."),
            "Siti Rahayu",
            aliases=("name", "nama", "nama_lengkap"),
        ),
        Column(
            "start_date",
            _("First day, as dd/mm/yyyy (e.g. 02/01/2026) or an Excel date."),
            dt.date(2026, 1, 2),
            required=True,
            aliases=("start", "tanggal_mulai", "mulai", "tmt", "dari", "dari_tanggal"),
        ),
        Column(
            "end_date",
            _("Last day, as dd/mm/yyyy; empty while the holding lasts."),
            "",
            aliases=("end", "tanggal_selesai", "selesai", "sampai", "sampai_tanggal"),
        ),
        Column(
            "acting",
            _(
                "yes (ya) for an acting holder (Plt), no (tidak) or empty for a "
                "definitive one."
            ),
            "tidak",
            aliases=("is_acting", "plt", "pelaksana_tugas"),
        ),
    ),
)

SHEETS: tuple[SheetSpec, ...] = (UNITS, POSITIONS, DUTIES, PEOPLE, HOLDERS)
SHEET_NAMES: tuple[str, ...] = tuple(spec.name for spec in SHEETS)

# Sheets the template adds for people; the import passes over them silently.
IGNORED_SHEETS = frozenset({"instructions", "petunjuk", "readme", "read_me", "bacaan"})

# Holders name the person by employee number or by full name: one of them is needed.
HOLDER_PERSON_COLUMNS = ("employee_number", "full_name")


def sheet_for(title: str) -> SheetSpec | None:
    key = normalise_name(title)
    for spec in SHEETS:
        if key == spec.name or key in spec.aliases:
            return spec
    return None
