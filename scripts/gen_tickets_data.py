#!/usr/bin/env python3
"""Writes the labelled draft-ticket sets: tests/data/tickets_train.jsonl and tickets_heldout.jsonl.

    .venv/bin/python scripts/gen_tickets_data.py [--per-topic N] [--seed S]

Templates x slots x renderers, with a fixed seed. Every phrase pool has two
halves: pool "a" writes the training split, pool "b" (different problem
statements, appeal frames, openings, number and name introductions,
operator lines) writes the held-out split, so held-out figures measure
phrasings the model never saw. Renderers: clean text, recogniser-style
(words split by spaces, spoken digits, fillers, homophones) and two-speaker
turns (话务员：/来电人： and variants, with the operator's read-back).
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import jieba

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data"

DISTRICTS = {
    "荷塘区": (["荷塘区", "荷塘", "河塘区"], ["月塘街道", "宋家桥街道", "桂花街道", "茨菇塘街道", "仙庾镇", "红旗中路"]),
    "芦淞区": (["芦淞区", "芦淞", "鹿松区"], ["建宁街道", "贺家土街道", "董家塅街道", "庆云街道", "白关镇", "建设中路"]),
    "石峰区": (["石峰区", "石峰"], ["田心街道", "响石岭街道", "清水塘街道", "井龙街道", "云田镇", "田心大道"]),
    "天元区": (["天元区", "天元"], ["嵩山路街道", "泰山路街道", "栗雨街道", "马家河街道", "群丰镇", "神农大道"]),
    "渌口区": (["渌口区", "渌口", "六口区"], ["渌口镇", "南洲镇", "淦田镇", "朱亭镇", "龙船镇"]),
    "攸县": (["攸县"], ["联星街道", "江桥街道", "网岭镇", "皇图岭镇", "酒埠江镇", "鸾山镇"]),
    "茶陵县": (["茶陵县", "茶陵"], ["云阳街道", "思聪街道", "腰潞镇", "虎踞镇", "严塘镇", "火田镇"]),
    "炎陵县": (["炎陵县", "炎陵"], ["霞阳镇", "沔渡镇", "十都镇", "鹿原镇", "策源乡"]),
    "醴陵市": (["醴陵市", "醴陵"], ["来龙门街道", "阳三石街道", "国瓷街道", "浦口镇", "白兔潭镇", "泗汾镇"]),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢谭"
GIVEN = ["建军", "小明", "志强", "丽", "娟", "国华", "红梅", "伟", "海燕", "德明", "桂英", "春生", "晓东", "芳", "秋菊",
         "文斌", "永红", "敏", "建平", "玉兰", "俊", "小红", "长青", "爱民"]

# Each topic: category path, then pools of problem statements (a | b), questions (咨询), reports (举报),
# suggestions (建议), and what a praise call is about.
T = []


def topic(path, problems_a, problems_b, questions_a=(), questions_b=(), reports_a=(), reports_b=(),
          suggest_a=(), suggest_b=(), praise=("工作人员",), urgent=None):
    T.append(dict(path=list(path), p=(list(problems_a), list(problems_b)), q=(list(questions_a), list(questions_b)),
                  r=(list(reports_a), list(reports_b)), s=(list(suggest_a), list(suggest_b)), praise=list(praise),
                  urgent=urgent))


topic(["人力资源社会保障", "欠薪"],
      ["我在{place}一个工地上干活，老板拖欠我们工资三个月了", "包工头欠了我两万多块工钱一直不给",
       "公司已经半年没发工资了，老板人都找不到", "我们十几个农民工的工钱到现在还没结", "厂里扣着我的工资不发，说要等年底"],
      ["做了一年的活，血汗钱一分都没拿到", "我们那个建筑工地的项目部一直压着工人的钱不给", "老板说资金紧张，工资一拖再拖，已经四个月了",
       "装修公司的师傅工钱被拖着，打电话老板也不接", "那个工程队散伙了，欠我们八个人的工资没人管"],
      ["工资被拖欠了应该去哪里投诉", "老板不发工资可以申请劳动仲裁吗"], ["拖欠工资找劳动监察要带什么材料", "欠薪的话多久能处理"],
      praise=("劳动监察大队",),
      urgent=(["马上要过年了，三十多个工人都等着这个钱回家", "快过年了，我们二十几个人的工资一分没发"],
              ["年底了，几十个工人拿不到钱没法回家过年", "春节前大家的工钱都没结，一百多号人等着"]))
topic(["人力资源社会保障", "社会保险"],
      ["公司一直没给我交社保，说好的转正后交也没交", "我的养老保险断缴了好几年"],
      ["单位扣了社保的钱但是社保局查不到缴费记录", "退休金算得不对，比别人少了好几百"],
      ["社保从外地转回来要去哪里办", "灵活就业人员怎么交养老保险", "办退休需要带什么材料"],
      ["养老金每年什么时候调整", "社保卡丢了在哪里补办", "缴费年限不够十五年能不能补缴"],
      praise=("社保局窗口",))
topic(["人力资源社会保障", "劳动关系"],
      ["公司无故把我辞退了，一分钱经济补偿都没有", "干了两年都没签劳动合同"],
      ["老板逼着我们天天超时加班，加班费也不给", "试用期被开除了，说我不合适，押金也不退"],
      ["被公司辞退了能拿多少赔偿", "没签劳动合同可以要双倍工资吗"], ["工伤认定要找哪个部门", "公司调岗降薪合不合法"])
topic(["住房与城乡建设", "物业管理"],
      ["小区物业收了物业费什么都不管，楼道的灯坏了两个月没人修", "物业把小区的绿化带改成停车位收钱"],
      ["电梯三天两头坏，物业公司就是不修", "物业保安天天不在岗，小区里丢了好几辆电动车也不管"],
      ["物业费涨价需要业主同意吗", "怎么成立业委会"], ["物业合同到期了业主可以换物业公司吗", "维修基金怎么申请使用"],
      praise=("物业公司",))
topic(["住房与城乡建设", "房屋质量"],
      ["新房交房才半年，墙上到处开裂", "房子卫生间一直漏水，开发商不管"],
      ["买的商品房天花板渗水，墙皮脱落，找开发商推来推去", "刚收的房子地面下沉，墙体有裂缝"],
      ["房屋质量问题应该找哪个部门鉴定"], ["房子裂缝了开发商要负责多少年"])
topic(["住房与城乡建设", "房产办证"],
      ["房子买了五年了房产证还没办下来", "开发商一直拖着不给办不动产证"],
      ["交房三年了产权证还是办不下来，开发商说手续没齐", "二手房过户卡着办不了"],
      ["不动产登记要带哪些材料", "二手房过户在哪里办"], ["房产证加名字怎么办理", "网签以后多久可以办证"])
topic(["住房与城乡建设", "建筑施工"],
      ["旁边的工地晚上十二点还在施工打桩", "建筑工地的渣土车把路上弄得全是泥"],
      ["工地的塔吊半夜还在作业，搅拌车轰轰响", "施工队把围挡拆了，扬尘特别大"],
      ["夜间施工要办什么许可"], ["工地施工时间有没有规定"])
topic(["住房与城乡建设", "征地拆迁"],
      ["我们村拆迁补偿标准太低了", "拆迁款到现在还没有到位"],
      ["安置房说好两年交房，现在五年了还没建好", "征地的时候说的补偿和现在给的不一样"],
      ["拆迁补偿标准是怎么定的"], ["安置房什么时候能分"])
topic(["医疗卫生健康", "医疗服务"],
      ["医院的医生态度很差，还乱开药", "在诊所打吊针以后身上起了好多疹子，诊所不认账"],
      ["去医院看个感冒检查费花了一千多", "急诊排了三个小时都没有医生看"],
      ["挂号可以网上挂吗", "医院周末有没有门诊"], ["住院病历怎么复印", "专家门诊怎么预约"], praise=("医院的医生护士",))
topic(["医疗卫生健康", "医疗保障"],
      ["医保报销一直报不下来", "异地就医报销比例太低了"],
      ["住院的钱医保只报了一点点，说有很多不能报", "医保卡里的钱被人盗刷了"],
      ["医保在外地住院怎么报销", "城乡居民医保怎么交"], ["大病保险报销比例是多少", "门诊统筹怎么用"])
topic(["医疗卫生健康", "疫苗接种"],
      ["社区医院的疫苗一直没有到货", "孩子打预防针排队排一上午"],
      ["狂犬疫苗打到第三针说没货了", "接种点工作人员不按时上班"],
      ["孩子的预防针在哪里打", "狂犬疫苗要打几针"], ["成人可以打流感疫苗吗"])
topic(["农林水利", "农业生产"],
      ["买的种子发芽率很低，秧苗都不长", "种粮补贴今年一直没发下来"],
      ["买的化肥是假的，庄稼都烧死了", "稻子得了病虫害，农技站的人也不来看"],
      ["种粮补贴怎么申请", "耕地地力补贴什么时候发"], ["农机购置补贴怎么领", "土地流转要签什么合同"])
topic(["农林水利", "林业"],
      ["有人在山上偷偷砍树，砍了好大一片", "后山的林地被人毁了种别的"],
      ["村里有人盗伐杉木拉出去卖", "林区里有人抓野生动物卖"],
      ["自己家山上的树要砍需要采伐证吗"], ["林权证怎么办"],
      ["有人在山上乱砍滥伐", "有人在林区打野生动物"], ["有人非法收购木材", "有人在山里下套抓野猪"])
topic(["农林水利", "水利"],
      ["村里的水渠堵了好几年没人清淤，田都灌不了", "河道里有人挖沙把河堤挖坏了"],
      ["山塘漏水，今年抗旱没水", "泵站坏了，几百亩田没水灌溉"],
      ["农田水利维修找哪个部门"], ["山塘清淤有没有补贴"],
      ["有人在河里电鱼，鱼都电死了", "湘江禁渔期还有人在江边撒网捕鱼"], ["有人开着船在湘江里偷偷电鱼", "禁渔期有人用电瓶电鱼"])
topic(["市场管理", "消费维权"],
      ["在商场买的衣服穿了一次就坏了，商家不给退", "网购的手机是翻新机，售后不处理"],
      ["交了定金的家具一直不送货，店家也不退钱", "4S店修车以次充好还多收钱"],
      ["商家不给退货消费者怎么维权"], ["七天无理由退货适用哪些商品"],
      ["有家店在卖假货，冒充名牌", "有人在直播带货卖假的保健品"], ["有个门面卖山寨的名牌包", "商店卖的烟酒是假的"],
      praise=("市场监管局",))
topic(["市场管理", "食品安全"],
      ["在那家餐馆吃了饭全家拉肚子", "超市卖过期的面包和牛奶"],
      ["外卖里面吃出了蟑螂，商家不认", "卤菜店的卫生条件特别差，苍蝇乱飞"],
      ["食品过期了找哪个部门"], ["买到变质的东西怎么投诉"],
      ["有个小作坊用地沟油炸东西卖", "有人卖病死猪肉"], ["有个黑作坊在做没有标签的食品", "菜市场有人卖注水肉"])
topic(["市场管理", "价格监管"],
      ["停车场乱收费，一个小时收二十块", "景区里的东西卖天价"],
      ["药店同一个药比别的地方贵一倍还不明码标价", "过节的时候菜价哄抬得厉害"],
      ["停车收费标准是谁定的"], ["物价投诉打哪个电话"])
topic(["市场管理", "预付卡"],
      ["健身房办了卡没多久就关门跑路了", "美容院充了五千块现在人找不到了"],
      ["理发店的会员卡里还有两千多，店突然关了", "培训班预收了一年的费用老板跑了"],
      ["预付卡的钱退不了怎么办"], ["商家跑路了会员卡的钱能追回吗"])
topic(["市场管理"],
      ["公司注销了以后还一直给我发催缴的短信", "营业执照办了一个多月还没下来"],
      ["我想注销个体户的营业执照不知道怎么弄", "公司年报没报被列入异常名录了"],
      ["公司注销要走哪些流程", "个体工商户营业执照怎么办"], ["企业年报在哪里填", "公司变更法人要什么材料"])
topic(["交通运输与交通秩序", "公交服务"],
      ["公交车司机不进站，甩站，我们等了半个小时", "末班车太早了，晚上下班都没车坐"],
      ["那趟公交车一等就是四十分钟", "公交司机开车急刹车，态度还特别差"],
      ["公交线路怎么查"], ["老年人坐公交免费吗"],
      suggest_a=["建议增加一条到工业园的公交线路", "希望末班车能延长到晚上十点"],
      suggest_b=["能不能多开几班公交到新区", "建议公交站台加装遮阳棚"], praise=("公交司机",))
topic(["交通运输与交通秩序", "出租车"],
      ["出租车司机拒载，还绕路", "出租车不打表，到了地方乱要价"],
      ["网约车司机故意绕路多收了我五十块", "晚上打的司机一口价不打表"],
      ["出租车投诉打哪个电话"], ["网约车多收钱怎么处理"])
topic(["交通运输与交通秩序", "道路交通"],
      ["那个十字路口的红绿灯坏了好几天", "那条公路到处是坑，车都开不了"],
      ["大货车天天在我们这条路上超载超速", "路口左转的绿灯时间太短了，天天堵车"],
      ["驾照到期了在哪里换", "车辆年审要带什么"], ["违章怎么处理", "电动车上牌在哪里办"],
      suggest_a=["建议在学校门口装个红绿灯", "这个路口应该加个斑马线"],
      suggest_b=["希望能在这个路口增加一个左转车道", "建议那段路设个限速"])
topic(["公共服务", "停水停电"],
      ["我们家停电了，不知道什么时候来电", "我们这一片停水了，也没有通知"],
      ["家里的水龙头一直出黄水", "电压不稳，家里的电器都烧坏了"],
      ["停水了什么时候能恢复"], ["电费怎么这么高，电表是不是坏了"],
      urgent=(["整栋楼从昨天开始就停水了，到现在一直没来", "整个小区停电一整天了，家里有老人"],
              ["我们几栋楼两天没水了，饭都做不了", "全村停电十几个小时了还没人来抢修"]))
topic(["公共服务", "燃气供应"],
      ["燃气公司装表装了一个月都没装好", "燃气费突然比以前高了好几倍"],
      ["新房子开通天然气拖了很久", "燃气表走得特别快"],
      ["开通天然气找哪个公司", "燃气开户要带什么"], ["燃气灶坏了燃气公司管不管修", "天然气多少钱一方"])
topic(["公共服务", "通信网络"],
      ["我们小区手机信号特别差，打电话都听不清", "宽带老是断网，报修了也没人来"],
      ["家里的网速特别慢，交了钱达不到", "有线电视机顶盒坏了一直没人修"],
      ["宽带怎么办理"], ["基站什么时候能建好"])
topic(["社会治安与综合治理", "治安问题"],
      ["小区门口有一伙人天天聚众赌博", "楼下网吧让未成年人进去上网"],
      ["晚上总有人在街上飙车炸街", "我的电动车电瓶被人偷了"],
      ["电瓶被偷了要去哪里报案"], ["车被砸了要去哪里报警"],
      ["有个棋牌室天天聚众赌博", "有人在出租屋里吸毒"], ["那条街上有人收保护费", "宾馆里有人搞黄赌毒"])
topic(["社会治安与综合治理", "诈骗"],
      ["我在网上刷单被骗了三万块", "有人冒充公检法打电话让我转账"],
      ["被人拉进一个理财群，投了钱现在提不出来", "接到一个中奖电话，交了手续费什么都没有"],
      ["被骗了还能追回来吗"], ["怎么判断是不是诈骗电话"],
      ["有人在搞非法集资，承诺高息", "有个公司骗老年人买理财"], ["有人拉人搞传销", "小区里有人骗老人交钱买保健品"])
topic(["社会治安与综合治理", "邻里纠纷"],
      ["邻居家的狗天天叫，还在楼道里拉屎", "隔壁邻居把东西堆在我家门口"],
      ["楼上邻居家漏水到我家，协商不了", "邻居占了我家的宅基地建房子"],
      ["邻里纠纷找谁调解"], ["宅基地纠纷去哪里解决"])
topic(["科教文体", "招生入学"],
      ["孩子划片入学被分到了很远的学校", "孩子转学手续一直办不下来"],
      ["我家小孩上小学报名报不上，说学位满了", "积分入学的分数算得不对"],
      ["小学招生什么时候报名", "外地户口孩子怎么上学"], ["读初中是按学区划片吗", "转学需要什么材料"])
topic(["科教文体", "教育收费"],
      ["学校强制学生订教辅资料还收费", "幼儿园乱收费，一个学期涨了一千"],
      ["老师搞有偿补课，不去的学生还被针对", "学校收校服费比外面贵很多"],
      ["公办幼儿园的保育费是多少"], ["学校可以收资料费吗"])
topic(["科教文体", "校外培训"],
      ["培训机构收了学费就关门了", "小区里有个无证的补习班"],
      ["那个辅导班周末违规上课还收高价", "托管班把孩子交给不认识的人带"],
      ["校外培训机构怎么查有没有资质"], ["培训班退费有什么规定"])
topic(["科教文体"],
      ["体育馆的场地长期不对外开放", "图书馆开放时间太短了"],
      ["社区的篮球场被人占了停车", "文化馆的活动室一直锁着"],
      ["图书馆周末开门吗", "体育馆怎么预约"], ["博物馆要不要门票"],
      suggest_a=["建议多建几个社区运动场", "希望图书馆晚上能开到九点"],
      suggest_b=["能不能在公园里增加一些健身器材", "建议文化馆多办一些免费的培训"], praise=("学校的老师",))
topic(["城市管理", "噪音扰民"],
      ["楼下的烧烤店每天搞到凌晨两三点，音响开得很大", "广场舞的音响太大声了，吵得睡不着"],
      ["隔壁的KTV半夜唱歌，吵得人没法休息", "楼下的麻将馆天天吵到半夜"],
      ["噪音扰民找哪个部门管"], ["装修可以几点开始"])
topic(["城市管理", "占道经营"],
      ["马路边上全是摆摊的，路都走不了", "夜宵摊把人行道都占了"],
      ["菜市场门口的小贩把路堵死了", "水果店把摊子摆到了马路上"],
      ["摆摊需要办什么手续"], ["夜市可以在哪里摆"])
topic(["城市管理", "违章停车"],
      ["小区消防通道天天被车堵住", "有人把车停在我家门口，我的车出不去"],
      ["路边乱停车把公交站都挡住了", "小区里有几辆僵尸车停了一年没人管"],
      ["违章停车打哪个电话"], ["小区里的僵尸车谁来处理"])
topic(["城市管理", "违法建设"],
      ["邻居在楼顶私自搭建阳光房", "物业公司自己在小区里违章搭建了一排铁皮房"],
      ["一楼的住户把院子围起来加盖了房子", "有人在河边私搭乱建"],
      ["自己家楼顶搭个棚子要审批吗"], ["违建怎么举报"],
      ["有人在小区绿地上建房子", "物业公司私自加建门面出租"], ["楼下住户私自挖地下室", "有人占用河道搭建厂房"])
topic(["城市管理", "环境卫生"],
      ["小区门口的垃圾堆了好几天没人清运", "路边有人乱倒建筑垃圾"],
      ["公共厕所又脏又臭，一直没人打扫", "垃圾站的臭味飘到我们家里"],
      ["建筑垃圾应该倒在哪里"], ["垃圾分类怎么分"])
topic(["城市管理", "市政设施"],
      ["我们那条路的路灯坏了一个月，晚上黑漆漆的", "下水道堵了，一下雨就积水"],
      ["人行道的砖松了好多，老人经常摔跤", "马路上的护栏被撞坏了一直没修"],
      ["路灯坏了找谁修"], ["下水道堵了归哪个部门管"],
      suggest_a=["建议在公园里多装几盏路灯"], suggest_b=["希望能把小区门口的排水改一下"])
topic(["社情民意"],
      ["现在办事还是要跑好几个窗口，太麻烦了", "有些工作人员办事效率太低"],
      ["我觉得政务大厅的工作作风有问题", "窗口的工作人员上班时间玩手机"],
      ["你们热线是二十四小时的吗"], ["人民建议在哪里提"],
      suggest_a=["建议政务服务多搞一些网上办理", "希望热线能多增加一些话务员"],
      suggest_b=["建议街道多办一些便民服务活动", "希望政府多听听老百姓的意见"], praise=("热线的接线员", "政务大厅的工作人员"))
topic(["民政与社会救助", "低保救助"],
      ["家里生活困难，想申请低保一直批不下来", "老伴生病花光了钱，生活很困难"],
      ["我们家房子被火烧了，什么都没了，想申请临时救助", "一家人都没工作，揭不开锅了"],
      ["低保怎么申请", "临时救助需要什么条件"], ["低保的标准是多少", "大病救助怎么申请"])
topic(["民政与社会救助", "养老服务"],
      ["敬老院的护工对老人不好", "高龄补贴好几个月没发"],
      ["村里的孤寡老人没人照顾", "养老院收费乱涨价"],
      ["高龄补贴怎么申请", "居家养老服务怎么预约"], ["空巢老人有没有补助"],
      suggest_a=["建议社区多办几个老年食堂"], suggest_b=["希望多建一些日间照料中心"], praise=("社区的志愿者",))
topic(["民政与社会救助", "残疾人服务"],
      ["残疾人补贴一直没到账", "残疾证办了半年还没下来"],
      ["盲人过马路的盲道被占了", "残联的轮椅申请一直没回音"],
      ["残疾证怎么办理"], ["残疾人补贴标准是多少"])
topic(["民政与社会救助"],
      ["我在外地打工钱被偷了，回不了家", "路边有个流浪的老人好几天没吃饭"],
      ["婚姻登记预约一直约不上", "殡葬收费太贵了"],
      ["婚姻登记在哪里办", "结婚登记要带什么"], ["离婚登记需要预约吗"])
topic(["环境保护", "大气污染"],
      ["附近的工厂天天冒黑烟，气味很刺鼻", "有人在田里烧秸秆，烟大得很"],
      ["楼下饭店的油烟直接排到我们窗户上", "化工厂晚上偷偷排废气，臭气熏得人头晕"],
      ["油烟扰民归哪个部门管"], ["工厂排废气有没有标准"],
      ["有个厂晚上偷偷排放废气", "有人在空地上焚烧垃圾"], ["有工厂的烟囱晚上冒黄烟", "有家作坊偷烧废塑料"])
topic(["环境保护", "水污染"],
      ["工厂把污水直接排到河里，河里的鱼都死了", "养猪场的粪水流到河里"],
      ["河水发臭变黑了，好像有厂在偷排", "小河沟里都是工业废水"],
      ["河水污染找哪个部门"], ["工厂排污的举报电话是多少"],
      ["有个厂偷偷往河里排污水", "有人往水库里倒废水"], ["有个洗砂场把泥浆水排进河里", "养殖场往河里排粪水"])
topic(["环境保护"],
      ["附近的采石场天天放炮，灰尘大得很", "有人非法开矿，把山都挖空了"],
      ["山上的矿山没有恢复，一下雨就冲下来泥沙", "附近开了个采石场，环境被破坏得很厉害"],
      ["环境评估报告在哪里看"], ["环保局的电话是多少"],
      ["有人非法开采石头", "有人偷偷开矿"], ["有个采石场没有任何手续", "有人在山上非法采矿"])
topic(["其他咨询"],
      [], [],
      ["身份证到期了在哪里换", "户口迁移要什么手续", "个人所得税怎么申报", "放假调休是怎么安排的"],
      ["护照怎么办理", "政务服务中心几点上班", "港澳通行证续签在哪里办", "公证处在哪里"])

# Emergencies: (kind, category path, phrasings a, phrasings b). The caller asks for help now.
EMERGENCIES = [
    ("119", ["公共服务", "燃气供应"],
     ["我们这栋楼里好大一股煤气味，不知道是哪家漏气了", "厨房里煤气泄漏了，味道很重"],
     ["楼道里一股很浓的燃气的味道，闻着头都晕", "闻到天然气的味道，楼下好像漏了"]),
    ("119", ["社会治安与综合治理"],
     ["对面楼着火了，冒了好大的烟", "我们小区有一户人家起火了，火很大"],
     ["隔壁的房子烧起来了，浓烟从窗户里冒出来", "楼下的门面失火了，火苗都窜上来了"]),
    ("119", ["农林水利", "林业"],
     ["后山着火了，火烧得很大", "山上起火了，往村子这边烧过来了"],
     ["山上的树林烧起来了，一大片都是烟", "对面山头有山火，烧得很厉害"]),
    ("119", ["住房与城乡建设", "物业管理"],
     ["电梯坏了，里面关了三个人出不来", "我被困在电梯里了"],
     ["电梯卡在两层楼中间，里面有老人和小孩", "电梯突然停了，我们几个人卡在里面出不来"]),
    ("110", ["社会治安与综合治理", "治安问题"],
     ["楼下有人打架，拿着刀在砍人", "有几个人拿着钢管追着一个人打"],
     ["门口有人打起来了，有人被打得头破血流", "有个人拿着菜刀在砸门，说要杀人"]),
    ("110", ["社会治安与综合治理"],
     ["有个人站在楼顶边上，好像要跳下来", "有个女的坐在天台边上哭，说不想活了"],
     ["对面楼顶有个人站在边上，要跳楼", "有个小伙子爬到楼顶要寻短见"]),
    ("110", ["社会治安与综合治理", "诈骗"],
     ["我刚被骗了，他们让我把钱转到安全账户", "刚才有人冒充警察，我转了五万块过去"],  # urgency 紧急 (see URGENCY_OF)
     ["我妈刚才被人骗了，转了三万到一个安全账户", "刚刚被骗子骗了钱，人还在附近"]),
    ("120", ["医疗卫生健康"],
     ["我爸突然晕倒了，叫不醒", "路边有个老人倒在地上不动了"],
     ["家里老人胸口痛得厉害，喘不上气", "有个人在路上突然抽搐，口吐白沫"]),
    ("120", ["交通运输与交通秩序", "道路交通"],
     ["路口出车祸了，有人被车撞倒在地上流血", "一辆摩托车撞了人，人躺在地上起不来"],
     ["刚才有个小孩被车撞了，流了好多血", "两辆车撞了，司机卡在车里受伤了"]),
]
# Danger now without a 110/119/120 kind: 特急, no emergency.
DANGERS = [
    (["城市管理", "市政设施"],
     ["车流量那么大的马路上井盖没了，车子开过去很危险", "大马路中间的井盖不见了，车都在往那边开"],
     ["主干道上井盖被偷了，一个大洞，车随时会掉进去", "那条很多车的路上井盖掉了，已经有车差点出事"]),
]

# Calls that mention fire, 110, 打 ... but are not emergencies.
TRAPS_A = [
    ("表扬", ["社情民意"], "我想表扬一下消防队员，上次我们家着火，他们来得特别快"),
    ("咨询", ["其他咨询"], "我是110转过来的，想问一下身份证丢了怎么补办"),
    ("投诉", ["城市管理", "违章停车"], "小区的消防通道被车堵死了，万一着火消防车都进不来"),
    ("咨询", ["城市管理", "市政设施"], "路灯坏了找谁修，有结果了您打我座机就行"),
    ("表扬", ["社情民意"], "感谢120的医生，上个月我爸晕倒多亏他们及时抢救"),
    ("建议", ["社情民意"], "建议社区多搞一些消防宣传，防止着火"),
]
TRAPS_B = [
    ("表扬", ["社情民意"], "去年我们村山上起火，消防救援的同志连夜扑灭了，想给他们送面锦旗"),
    ("咨询", ["其他咨询"], "打110他们说这个事归你们管，想问下户口迁移怎么办"),
    ("投诉", ["住房与城乡建设", "物业管理"], "小区的灭火器都过期了，物业也不换，怕以后着火"),
    ("求助", ["公共服务", "停水停电"], "我家停电了，麻烦你们派人来看看，有消息打我手机"),
    ("表扬", ["社情民意"], "上次电梯关人，维修师傅十分钟就到了，想表扬一下"),
    ("咨询", ["医疗卫生健康"], "以前打过120，想问一下救护车的费用能不能医保报"),
]

# Calls with nothing to file: a bad line, a wrong number, silence.
OTHER = (["喂，喂，听得到吗，信号不好", "不好意思打错了", "喂，有人吗，怎么没声音", "我按错了，没事了"],
         ["喂喂喂，听不清楚，我等下再打", "哦打错电话了，对不起", "没事没事，小孩子乱按的", "喂，你好，算了我挂了"])
OPEN = (["", "你好，", "喂，你好，", "您好，", "喂，"], ["", "同志你好，", "哎你好，", "喂喂，", "打扰一下，"])
FRAMES = {
    "投诉": (["我要投诉，{p}，一直没人管", "{p}，我要投诉他们", "想反映一下，{p}，到现在都没解决", "{p}，找了好几次都不处理"],
            ["{p}，这个事情太不像话了，你们管不管", "我实在受不了了，{p}", "{p}，打了好多次电话都没用", "我投诉一下，{p}，态度还很差"]),
    "求助": (["{p}，希望你们帮帮我们", "{p}，能不能帮我们想想办法", "{p}，现在不知道怎么办了"],
            ["{p}，求求你们帮个忙", "{p}，我们实在没办法了，请政府帮一下", "{p}，麻烦派人来看看"]),
    "咨询": (["我想咨询一下，{q}", "请问一下，{q}", "问一下，{q}"],
            ["想了解一下{q}", "我打电话是想问问，{q}", "{q}，我不太清楚"]),
    "举报": (["我要举报，{r}", "我举报一下，{r}，你们查一查", "{r}，我要实名举报"],
            ["这里{r}，希望你们去查处", "我要反映个违法的事，{r}", "举报一个情况，{r}"]),
    "建议": (["我有个建议，{s}", "提个建议，{s}", "{s}，这是我的建议"],
            ["给你们提个意见，{s}", "我觉得{s}，希望能考虑一下", "想给政府提个建议，{s}"]),
    "表扬": (["我想表扬一下{x}，上次的事情处理得特别快", "我要感谢{x}，态度特别好"],
            ["给{x}点个赞，办事效率很高", "想给{x}送面锦旗，非常负责"]),
}
EM_FRAMES = (["{p}，快点派人来", "{p}，赶紧来人", "救命，{p}"], ["{p}，你们快来", "{p}，现在怎么办，快点", "{p}，赶快派人过来"])
PLACE_FRAMES = (["我是{d}{s}的，", "我在{d}{s}这边，", "{d}{s}这里，"], ["地点是{d}{s}，", "我们这是{d}{s}，", "在{d}{s}附近，"])
RESIDE = (["我住在{o}，", "我家在{o}，"], ["我老家是{o}的，", "我户口在{o}，"])
NAME_SAY = (["我姓{sur}", "我叫{full}", "我是{sur}先生", "我是{sur}女士"],
            ["免贵姓{sur}", "我的名字叫{full}", "姓{sur}", "叫我{sur}女士就行"])
NUM_SAY = (["我电话是{n}", "我的手机号是{n}", "联系电话{n}"], ["你记一下我号码，{n}", "回电打{n}", "我手机{n}"])
OP_GREET = (["您好，12345热线，请问有什么可以帮您？", "您好，请讲。"], ["您好，株洲12345，请问您要反映什么问题？", "您好，这里是政务服务热线。"])
OP_ASK_PLACE = (["请问是在哪个区？", "具体地址在哪里？"], ["麻烦说一下具体位置。", "是在哪个县市区？"])
OP_ASK_NAME = (["请问您贵姓？", "怎么称呼您？"], ["您怎么称呼？", "请留一下您的姓名。"])
OP_ASK_NUM = (["留一个联系电话吧。", "您的联系方式是？"], ["方便留个电话吗？", "请问回访电话是多少？"])
OP_READ = (["您的电话是{n}，对吗？", "我复述一下，{n}，对吧？"], ["号码是{n}是吧？", "{n}，没错吧？"])
SPEAKERS = ([("话务员", "来电人"), ("坐席", "市民")], [("客服", "用户"), ("接线员", "来电者"), ("话务员", "群众")])
SPOKEN = {"0": "零", "1": "幺", "2": "二", "3": "三", "4": "四", "5": "五", "6": "六", "7": "七", "8": "八", "9": "九"}
SPOKEN_B = {**SPOKEN, "1": "一", "0": "洞", "2": "两"}
HOMO = {"投诉": "投素", "举报": "举保", "工资": "工姿", "物业": "物叶", "噪音": "噪因", "停电": "停店", "低保": "低宝"}
FILLERS = ["嗯", "那个", "呃", "就是", "啊"]


def mobile(rng):
    return rng.choice(["13", "15", "18", "17", "19"]) + str(rng.randint(0, 9)) + "".join(str(rng.randint(0, 9)) for _ in range(8))


def landline(rng):
    return str(rng.choice([2, 2, 8])) + "".join(str(rng.randint(0, 9)) for _ in range(7))


def spoken(num, rng, table):
    return " ".join(table[c] for c in num)


def asr(text, rng, pool):
    """Recogniser-style: no punctuation, words split by spaces, fillers, a homophone now and then."""
    for k, v in HOMO.items():
        if k in text and rng.random() < 0.25:
            text = text.replace(k, v, 1)
    text = text.replace("，", " ").replace("。", " ").replace("？", " ").replace("！", " ")
    out = []
    for w in jieba.lcut(text):
        w = w.strip()
        if not w:
            continue
        if w.isdigit() and len(w) >= 7:
            out.append(spoken(w, rng, SPOKEN if pool == 0 else SPOKEN_B))
            continue
        if rng.random() < 0.07:
            out.append(rng.choice(FILLERS))
        if len(w) >= 3 and w[0] in SURNAMES and rng.random() < 0.5:
            out.extend([w[0], w[1:]])
        else:
            out.append(w)
    return " ".join(out)


def make(rng, pool, kind):
    """One case: (transcript, labels, style)."""
    district = rng.choice(list(DISTRICTS))
    forms, streets = DISTRICTS[district]
    dform = rng.choice(forms)
    street = rng.choice(streets)
    em = None
    urgency = "一般"
    place_frame = rng.choice(PLACE_FRAMES[pool])
    if kind == "emergency":
        em, path, pa, pb = rng.choice(EMERGENCIES)
        body = rng.choice(EM_FRAMES[pool]).format(p=rng.choice((pa, pb)[pool]))
        appeal, urgency = "求助", ("紧急" if path[-1] == "诈骗" else "特急")   # money lost: same day, not life
    elif kind == "danger":
        path, pa, pb = rng.choice(DANGERS)
        body = rng.choice(EM_FRAMES[pool]).format(p=rng.choice((pa, pb)[pool]))
        appeal, urgency = "求助", "特急"
    elif kind == "other":
        appeal, path, body = "其他", ["其他咨询"], rng.choice(OTHER[pool])
        return (body + "。", {"appeal_type": "其他", "category": path, "district": None, "urgency": "一般",
                             "emergency": None, "callback_number": None, "caller_name": None}, "clean")
    elif kind == "trap":
        appeal, path, body = rng.choice((TRAPS_A, TRAPS_B)[pool])
    else:
        t = rng.choice(T)
        path = t["path"]
        options = []
        if t["p"][pool]:
            options += ["投诉", "投诉", "求助"]
        if t["q"][pool]:
            options += ["咨询", "咨询"]
        if t["r"][pool]:
            options += ["举报", "举报"]
        if t["s"][pool]:
            options += ["建议"]
        if rng.random() < 0.08:
            options = ["表扬"]
            # praise of a topic's own people (teachers, doctors) is filed under the topic; else 社情民意
            path = ["社情民意"] if t["praise"] == ["工作人员"] else path[:1]
        appeal = rng.choice(options)
        frame = rng.choice(FRAMES[appeal][pool])
        if appeal in ("投诉", "求助"):
            problem = rng.choice(t["p"][pool]).replace("{place}", "")
            if t["urgent"] and rng.random() < 0.35:
                problem = problem + "，" + rng.choice(t["urgent"][pool])
                urgency = "紧急"
                appeal = "求助" if rng.random() < 0.6 else appeal
                frame = rng.choice(FRAMES[appeal][pool])
            body = frame.format(p=problem)
        elif appeal == "咨询":
            body = frame.format(q=rng.choice(t["q"][pool]))
        elif appeal == "举报":
            body = frame.format(r=rng.choice(t["r"][pool]))
        elif appeal == "建议":
            body = frame.format(s=rng.choice(t["s"][pool]))
        else:
            body = frame.format(x=rng.choice(t["praise"]))
    has_place = rng.random() < 0.85 or kind in ("emergency", "danger")
    place_txt = place_frame.format(d=dform, s=street) if has_place else ""
    if has_place and rng.random() < 0.15:
        other = rng.choice([d for d in DISTRICTS if d != district])
        place_txt = rng.choice(RESIDE[pool]).format(o=other) + "但是事情是在" + dform + street + "，"
    sur = rng.choice(SURNAMES)
    given = rng.choice(GIVEN)
    name_frame = rng.choice(NAME_SAY[pool]) if rng.random() < 0.65 else None
    name_label = None
    name_txt = ""
    if name_frame:
        name_txt = name_frame.format(sur=sur, full=sur + given)
        name_label = sur + given if "{full}" in name_frame else sur
    number = mobile(rng) if rng.random() < 0.8 else "0731-" + landline(rng)
    num_label = None
    num_txt = ""
    said = number.replace("0731-", "") if rng.random() < 0.5 else number.replace("-", "")
    if rng.random() < 0.7:
        num_label = number
        num_txt = rng.choice(NUM_SAY[pool]).format(n=said)
        twist = rng.random()
        if twist < 0.12 and len(said) == 11:
            wrong = said[:-2] + said[-1] + said[-2]
            if wrong != said:
                num_txt = rng.choice(NUM_SAY[pool]).format(n=wrong) + "，说错了，是" + spoken(said[-2:], rng, SPOKEN)
        elif twist < 0.22:
            third = mobile(rng)
            who = rng.choice(["骗子的号码是", "老板的电话是", "那个房东电话是", "对方的手机是"])
            num_txt = who + third + "，" + num_txt
        elif twist < 0.3:
            other = mobile(rng)
            land = landline(rng)
            num_txt = f"我手机{other}，座机{land}，您打我座机就行"
            num_label = "0731-" + land
    style = rng.choice(["clean", "asr", "dialogue"])
    opening = rng.choice(OPEN[pool])
    labels = {"appeal_type": appeal, "category": path, "district": district if has_place else None,
              "urgency": urgency, "emergency": em, "callback_number": num_label, "caller_name": name_label}
    if style == "dialogue":
        op, ca = rng.choice(SPEAKERS[pool])
        lines = [f"{op}：{rng.choice(OP_GREET[pool])}", f"{ca}：{opening}{body}。"]
        if place_txt:
            lines += [f"{op}：{rng.choice(OP_ASK_PLACE[pool])}", f"{ca}：{place_txt.rstrip('，')}。"]
        if name_txt:
            lines += [f"{op}：{rng.choice(OP_ASK_NAME[pool])}", f"{ca}：{name_txt}。"]
        if num_txt:
            lines += [f"{op}：{rng.choice(OP_ASK_NUM[pool])}", f"{ca}：{num_txt}。"]
            if num_label and rng.random() < 0.5:
                lines += [f"{op}：{rng.choice(OP_READ[pool]).format(n=num_label.replace('-', ''))}", f"{ca}：对。"]
        lines.append(f"{op}：好的，我们会尽快处理。")
        text = "\n".join(lines)
        if rng.random() < 0.4:                     # recogniser output of the live call
            text = "\n".join(ln.split("：", 1)[0] + "：" + asr(ln.split("：", 1)[1], rng, pool) for ln in lines)
    else:
        parts = [opening + place_txt + body]
        if name_txt:
            parts.append(name_txt)
        if num_txt:
            parts.append(num_txt)
        if rng.random() < 0.5:
            rng.shuffle(parts[1:]) if False else None
        text = "，".join(parts) + "。"
        if style == "asr":
            text = asr(text, rng, pool)
    return text, labels, style


def generate(n_train, n_held, seed):
    rng = random.Random(seed)
    jieba.setLogLevel(60)
    out = {"train": [], "heldout": []}
    for split, pool, n in (("train", 0, n_train), ("heldout", 1, n_held)):
        for i in range(n):
            r = rng.random()
            kind = ("emergency" if r < 0.12 else "danger" if r < 0.14 else "trap" if r < 0.2
                    else "other" if r < 0.225 else "normal")
            text, labels, style = make(rng, pool, kind)
            out[split].append({"id": f"{split[0]}{i:05d}", "split": "train" if pool == 0 else "holdout",
                               "style": style, "transcript": text, "labels": labels})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--heldout", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=12345)
    a = ap.parse_args()
    data = generate(a.train, a.heldout, a.seed)
    for name, rows in (("tickets_train.jsonl", data["train"]), ("tickets_heldout.jsonl", data["heldout"])):
        with open(OUT / name, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
