"""Human3.6M cameras: the published calibration and the maths around it.

The numbers below are facts about the dataset (Ionescu et al., TPAMI 2014), as published in
VideoPose3D's ``common/h36m_dataset.py`` (facebookresearch/VideoPose3D @1afb1ca,
``h36m_cameras_intrinsic_params`` / ``h36m_cameras_extrinsic_params``); only the numbers are taken.
Subjects S2, S3 and S4 have no published extrinsics (their 3D poses are not released).

Conventions (checked against the reference's ``world_to_camera``/``qrot``/``project_to_2d``):

* A camera's ``orientation`` is a quaternion ``(w, x, y, z)`` that rotates *camera-frame* vectors
  into the world; its ``translation`` is the camera centre in the world, in mm. So
  ``X_cam = M(q)^T (X_world - centre)``, i.e. kpbench's ``R = M(q)^T`` and ``t = -R centre``.
* The world is in mm with z up (the floor near z = 0); cameras look at the capture area around
  the origin from about 5 m away.
* Projection is Human3.6M's model: ``u = X/Z`` (clipped to [-1, 1]), ``r2 = |u|^2``,
  ``u' = u (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p . u) + p r2``, pixel = ``f u' + c`` (px, x right,
  y down). The ground-truth 2D of ``data_2d_h36m_gt.npz`` is made this way, distortion included.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CameraIntrinsics(NamedTuple):
    id: str
    size: tuple[int, int]  # (W, H) px
    center: tuple[float, float]  # px
    focal: tuple[float, float]  # px
    radial: tuple[float, float, float]
    tangential: tuple[float, float]


# fmt: off
#: Per camera (index 0-3): id, (W, H) px, centre (cx, cy) px, focal (fx, fy) px,
#: radial distortion (k1, k2, k3), tangential distortion (p1, p2).
INTRINSICS = (
    CameraIntrinsics(
        "54138969", (1000, 1002),
        (512.54150390625, 515.4514770507812),
        (1145.0494384765625, 1143.7811279296875),
        (-0.20709891617298126, 0.24777518212795258, -0.0030751503072679043),
        (-0.0009756988729350269, -0.00142447161488235),
    ),
    CameraIntrinsics(
        "55011271", (1000, 1000),
        (508.8486328125, 508.0649108886719),
        (1149.6756591796875, 1147.5916748046875),
        (-0.1942136287689209, 0.2404085397720337, 0.006819975562393665),
        (-0.0016190266469493508, -0.0027408944442868233),
    ),
    CameraIntrinsics(
        "58860488", (1000, 1000),
        (519.8158569335938, 501.40264892578125),
        (1149.1407470703125, 1148.7989501953125),
        (-0.2083381861448288, 0.25548800826072693, -0.0024604974314570427),
        (0.0014843869721516967, -0.0007599993259645998),
    ),
    CameraIntrinsics(
        "60457274", (1000, 1002),
        (514.9682006835938, 501.88201904296875),
        (1145.5113525390625, 1144.77392578125),
        (-0.198384091258049, 0.21832367777824402, -0.008947807364165783),
        (-0.0005872055771760643, -0.0018133620033040643),
    ),
)
#: Per subject, per camera (index 0-3): orientation quaternion (w, x, y, z) rotating
#: camera-frame vectors into the world frame, and the camera centre in the world (mm).
EXTRINSICS = {
    "S1": (
        ((0.1407056450843811, -0.1500701755285263, -0.755240797996521, 0.6223280429840088),
         (1841.1070556640625, 4955.28466796875, 1563.4454345703125)),
        ((0.6157187819480896, -0.764836311340332, -0.14833825826644897, 0.11794740706682205),
         (1761.278564453125, -5078.0068359375, 1606.2650146484375)),
        ((0.14651472866535187, -0.14647851884365082, 0.7653023600578308, -0.6094175577163696),
         (-1846.7777099609375, 5215.04638671875, 1491.972412109375)),
        ((0.5834008455276489, -0.7853162288665771, 0.14548823237419128, -0.14749594032764435),
         (-1794.7896728515625, -3722.698974609375, 1574.8927001953125)),
    ),
    "S5": (
        ((0.1467377245426178, -0.162370964884758, -0.7551892995834351, 0.6178938746452332),
         (2097.3916015625, 4880.94482421875, 1605.732421875)),
        ((0.6159758567810059, -0.7626792192459106, -0.15728192031383514, 0.1189815029501915),
         (2031.7008056640625, -5167.93310546875, 1612.923095703125)),
        ((0.14291371405124664, -0.12907841801643372, 0.7678384780883789, -0.6110143065452576),
         (-1620.5948486328125, 5171.65869140625, 1496.43701171875)),
        ((0.5920479893684387, -0.7814217805862427, 0.1274748593568802, -0.15036417543888092),
         (-1637.1737060546875, -3867.3173828125, 1547.033203125)),
    ),
    "S6": (
        ((0.1337897777557373, -0.15692396461963654, -0.7571090459823608, 0.6198879480361938),
         (1935.4517822265625, 4950.24560546875, 1618.0838623046875)),
        ((0.6147197484970093, -0.7628812789916992, -0.16174767911434174, 0.11819244921207428),
         (1969.803955078125, -5128.73876953125, 1632.77880859375)),
        ((0.1529948115348816, -0.13529130816459656, 0.7646096348762512, -0.6112781167030334),
         (-1769.596435546875, 5185.361328125, 1476.993408203125)),
        ((0.5916101336479187, -0.7804774045944214, 0.12832270562648773, -0.1561593860387802),
         (-1721.668701171875, -3884.13134765625, 1540.4879150390625)),
    ),
    "S7": (
        ((0.1435241848230362, -0.1631336808204651, -0.7548328638076782, 0.6188824772834778),
         (1974.512939453125, 4926.3544921875, 1597.8326416015625)),
        ((0.6141672730445862, -0.7638262510299683, -0.1596645563840866, 0.1177929937839508),
         (1937.0584716796875, -5119.7900390625, 1631.5665283203125)),
        ((0.14550060033798218, -0.12874816358089447, 0.7660516500473022, -0.6127139329910278),
         (-1741.8111572265625, 5208.24951171875, 1464.8245849609375)),
        ((0.5912848114967346, -0.7821764349937439, 0.12445473670959473, -0.15196487307548523),
         (-1734.7105712890625, -3832.42138671875, 1548.5830078125)),
    ),
    "S8": (
        ((0.14110587537288666, -0.15589867532253265, -0.7561917304992676, 0.619644045829773),
         (2150.65185546875, 4896.1611328125, 1611.9046630859375)),
        ((0.6169601678848267, -0.7647668123245239, -0.14846350252628326, 0.11158157885074615),
         (2219.965576171875, -5148.453125, 1613.0440673828125)),
        ((0.1471444070339203, -0.13377119600772858, 0.7670128345489502, -0.6100369691848755),
         (-1571.2215576171875, 5137.0185546875, 1498.1761474609375)),
        ((0.5927824378013611, -0.7825870513916016, 0.12147816270589828, -0.14631995558738708),
         (-1476.913330078125, -3896.7412109375, 1547.97216796875)),
    ),
    "S9": (
        ((0.15540587902069092, -0.15548215806484222, -0.7532095313072205, 0.6199594736099243),
         (2044.45849609375, 4935.1171875, 1481.2275390625)),
        ((0.618784487247467, -0.7634735107421875, -0.14132238924503326, 0.11933968216180801),
         (1990.959716796875, -5123.810546875, 1568.8048095703125)),
        ((0.13357827067375183, -0.1367100477218628, 0.7689454555511475, -0.6100738644599915),
         (-1670.9921875, 5211.98583984375, 1528.387939453125)),
        ((0.5879399180412292, -0.7823407053947449, 0.1427614390850067, -0.14794869720935822),
         (-1696.04345703125, -3827.099853515625, 1591.4127197265625)),
    ),
    "S11": (
        ((0.15232472121715546, -0.15442320704460144, -0.7547563314437866, 0.6191070079803467),
         (2098.440185546875, 4926.5546875, 1500.278564453125)),
        ((0.6189449429512024, -0.7600917220115662, -0.15300633013248444, 0.1255258321762085),
         (2083.182373046875, -4912.1728515625, 1561.07861328125)),
        ((0.14943228662014008, -0.15650227665901184, 0.7681233882904053, -0.6026304364204407),
         (-1609.8153076171875, 5177.3359375, 1537.896728515625)),
        ((0.5894251465797424, -0.7818877100944519, 0.13991211354732513, -0.14715361595153809),
         (-1590.738037109375, -3854.1689453125, 1578.017578125)),
    ),
}
# fmt: on

CAMERA_IDS = tuple(c.id for c in INTRINSICS)


def quaternion_matrix(q) -> np.ndarray:
    """The 3 × 3 matrix that rotates a vector as the quaternion ``q = (w, x, y, z)`` does.

    Written as ``(1 - 2|v|^2) I + 2 v v^T + 2 w [v]_x`` with ``v = (x, y, z)``, which equals the
    reference's ``qrot`` for any ``q`` (its quaternions are not renormalised, nor are they here).
    """
    w, x, y, z = (float(a) for a in q)
    v = np.array([x, y, z])
    cross = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return (1.0 - 2.0 * v @ v) * np.eye(3) + 2.0 * np.outer(v, v) + 2.0 * w * cross


def camera(subject: str, index: int, extrinsics: dict | None = None) -> dict:
    """The lifting3d camera of ``subject``'s camera ``index`` (0-3).

    Returns:
        ``intrinsics`` (3, 3) px, ``R`` (3, 3) and ``t`` (3,) mm (``X_cam = R X_world + t``),
        ``size`` (W, H) px, ``id`` (the Human3.6M camera id) and ``distortion`` (5,):
        ``(k1, k2, k3, p1, p2)`` of Human3.6M's model (see :func:`project`).

    Raises:
        KeyError: ``subject`` has no published extrinsics.
    """
    table = EXTRINSICS if extrinsics is None else extrinsics
    quat, centre = table[subject][index]
    intr = INTRINSICS[index]
    rot = quaternion_matrix(quat).T
    (fx, fy), (cx, cy) = intr.focal, intr.center
    return {
        "intrinsics": np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]),
        "R": rot,
        "t": -rot @ np.asarray(centre, np.float64),
        "size": tuple(intr.size),
        "id": intr.id,
        "distortion": np.array([*intr.radial, *intr.tangential]),
    }


def world_to_camera(points: np.ndarray, cam: dict) -> np.ndarray:
    """``(..., 3)`` world points (mm) in the camera frame (mm): ``R X + t``."""
    return np.asarray(points, np.float64) @ np.asarray(cam["R"]).T + np.asarray(cam["t"])


def project(points: np.ndarray, cam: dict, distort: bool = True) -> np.ndarray:
    """``(..., 3)`` camera-frame points → ``(..., 2)`` px through Human3.6M's camera model.

    ``distort=False`` (or a camera without ``distortion``) is the plain pinhole ``intrinsics``.
    Normalised coordinates are clipped to [-1, 1] first, as the reference does.
    """
    pts = np.asarray(points, np.float64)
    k = np.asarray(cam["intrinsics"], np.float64)
    u = np.clip(pts[..., :2] / pts[..., 2:3], -1.0, 1.0)
    coeffs = cam.get("distortion")
    if distort and coeffs is not None:
        k1, k2, k3, p1, p2 = (float(c) for c in coeffs)
        p = np.array([p1, p2])
        r2 = (u**2).sum(-1, keepdims=True)
        radial = 1.0 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        u = u * (radial + u @ p[:, None]) + p * r2
    return u * np.diag(k)[:2] + k[:2, 2]
